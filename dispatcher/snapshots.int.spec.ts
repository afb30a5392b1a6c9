import { afterEach, describe, expect, it } from "vitest";
import { TaskCommands } from "../commands/task-commands.ts";
import { succeededLife } from "../domain/testing/task-events.ts";
import { RawWorker } from "../tests/support/raw-worker.ts";
import { startTestServer } from "../tests/support/server.ts";
import { leading, until } from "../tests/support/signals.ts";
import { uniquePrefix } from "../tests/support/services.ts";
import { readySize, termsOf } from "../tests/support/terms.ts";

const noTrace = { traceparent: null, tracestate: null };

/** A new leader starts from the last snapshot and the log after it, not from the whole history. */
describe("dispatcher snapshots", () => {
  const cleanup: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const step of cleanup.splice(0).reverse()) await step();
  });
  const start = async (prefix: string) => {
    const server = await startTestServer({
      prefix,
      roles: new Set(["api", "dispatcher"]),
      snapshotIntervalMs: 3_600_000,
    });
    cleanup.push(() => server.close());
    return server;
  };

  it("restores the live tasks from the snapshot and reads only the log after it", async () => {
    const prefix = uniquePrefix("snap");
    const first = await start(prefix);
    await leading(first.dispatcher!);
    const commands = new TaskCommands(first.store, { maxPayloadBytes: 1 << 20 });
    // History: 200 finished tasks (800 events) the next leader must not read again.
    const T0 = Date.now() - 60_000;
    for (let i = 0; i < 200; i++)
      await first.store.append(
        `0193f0c0-0000-7000-8000-${String(i).padStart(12, "0")}`,
        0,
        succeededLife(T0),
      );
    const before = new Set<string>();
    for (let i = 0; i < 10; i++)
      before.add((await commands.submit({ type: "snap", payload: i }, noTrace)).id);
    await until(first.dispatcher!, "intake", () => readySize(first.dispatcher!) >= 10);
    for (const term of termsOf(first.dispatcher!)) await term.snapshotNow();
    const after = new Set<string>();
    for (let i = 0; i < 5; i++) after.add((await commands.submit({ type: "snap", payload: i }, noTrace)).id);
    // A crash: the partitions are dropped without the handover's snapshot.
    first.dispatcher!.owner.closeAll("crashed");
    await first.close();

    const second = await start(prefix);
    await leading(second.dispatcher!);
    const took = termsOf(second.dispatcher!).reduce(
      (sum, term) => ({
        restored: sum.restored + (term.leadingSince?.restored ?? 0),
        read: sum.read + (term.leadingSince?.read ?? 0),
      }),
      { restored: 0, read: 0 },
    );
    expect(took.restored).toBe(10);
    // Each partition's rebuild is timed from its claim; folding its snapshot and log is part of it.
    for (const term of termsOf(second.dispatcher!))
      expect(term.leadingSince!.rebuildMs).toBeGreaterThanOrEqual(term.leadingSince!.foldMs);
    // The five submissions after the snapshot (and nothing of the 800 finished events before it).
    expect(took.read).toBe(5);
    const worker = new RawWorker(second.grpcAddress);
    cleanup.push(() => worker.close());
    await worker.register(["snap"], { slots: 50 });
    const seen = new Set<string>();
    while (seen.size < 15) seen.add((await worker.next("assignment")).taskId);
    expect(seen).toEqual(new Set([...before, ...after]));
    // Every partition's takeover is timed from its claim: to rebuilt by each term, to the first
    // assignment by each term that sent one (bench: --takeover).
    const text = await second.metrics.registry.metrics();
    const count = (phase: string) =>
      Number(
        new RegExp(`^taskstream_dispatcher_takeover_seconds_count\\{phase="${phase}"\\} (\\d+)$`, "m").exec(
          text,
        )?.[1],
      );
    expect(count("rebuilt")).toBe(termsOf(second.dispatcher!).length);
    expect(count("first_dispatch")).toBeGreaterThanOrEqual(1);
  });
});
