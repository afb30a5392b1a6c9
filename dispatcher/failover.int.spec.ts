import { afterEach, describe, expect, it } from "vitest";
import { v7 as uuidv7 } from "uuid";
import { StaleEpochError, fold } from "../domain/task/index.ts";
import { TaskCommands } from "../commands/task-commands.ts";
import { RawWorker } from "../tests/support/raw-worker.ts";
import { eventually, startTestServer } from "../tests/support/server.ts";
import { uniquePrefix, connectTestRedis } from "../tests/support/services.ts";
import type { RunningServer } from "../cli/server.ts";
import { LiveTasks } from "./live-tasks.ts";
import { leading } from "../tests/support/signals.ts";

const noTrace = { traceparent: null, tracestate: null };
const dispatcherOnly = { roles: new Set(["api", "dispatcher"] as const) };

describe("dispatcher failover", () => {
  const cleanup: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const step of cleanup.splice(0).reverse()) await step();
  });
  const start = async (prefix: string) => {
    const server = await startTestServer({
      ...dispatcherOnly,
      prefix,
      roles: new Set(["api", "dispatcher"]),
    });
    cleanup.push(() => server.close());
    return server;
  };
  /** The server, once its dispatcher leads. */
  const leaderOf = async (server: RunningServer) => (await leading(server.dispatcher!, 20_000), server);

  it("rebuilds its queue from the log: tasks submitted while no dispatcher ran are dispatched", async () => {
    const prefix = uniquePrefix("rebuild");
    const api = await startTestServer({ prefix, roles: new Set(["api"]) });
    cleanup.push(() => api.close());
    const commands = new TaskCommands(api.store, { maxPayloadBytes: 1 << 20 });
    const ids = new Set<string>();
    for (let i = 0; i < 20; i++) ids.add((await commands.submit({ type: "later", payload: i }, noTrace)).id);
    const dispatcher = await start(prefix);
    await leaderOf(dispatcher);
    const w = new RawWorker(dispatcher.grpcAddress);
    cleanup.push(() => w.close());
    await w.register(["later"], { slots: 50 });
    const seen = new Set<string>();
    while (seen.size < ids.size) seen.add((await w.next("assignment")).taskId);
    expect(seen).toEqual(ids);
  });

  it("follows the intake from before its rebuild: tasks submitted while it starts are each dispatched once, and what it read is trimmed", async () => {
    const prefix = uniquePrefix("intake");
    const api = await startTestServer({ prefix, roles: new Set(["api"]) });
    cleanup.push(() => api.close());
    const commands = new TaskCommands(api.store, { maxPayloadBytes: 1 << 20 });
    const ids: string[] = [];
    const submit = async (n: number) => {
      for (let i = 0; i < n; i++)
        ids.push((await commands.submit({ type: "racing", payload: i }, noTrace)).id);
    };
    await submit(30);
    // Submissions keep arriving while the dispatcher fences, takes the intake heads and reads the log.
    const [dispatcher] = await Promise.all([
      start(prefix).then(async (d) => (await leaderOf(d), d)),
      submit(300),
    ]);
    await submit(30);
    const w = new RawWorker(dispatcher.grpcAddress);
    cleanup.push(() => w.close());
    await w.register(["racing"], { slots: 1000 });
    const assigned: string[] = [];
    while (assigned.length < ids.length) assigned.push((await w.next("assignment")).taskId);
    await expect(w.next("assignment", 500)).rejects.toThrow(/no assignment/);
    expect(new Set(assigned).size).toBe(assigned.length);
    expect(new Set(assigned)).toEqual(new Set(ids));
    // Once a second the leader trims each partition's intake through the last entry it folded.
    const store = dispatcher.store;
    const redis = connectTestRedis({ enableAutoPipelining: false });
    cleanup.push(() => redis.disconnect());
    /** Per intake: how many entries it holds, and how many were ever added to it. */
    const intakes = async () => {
      let [held, added] = [0, 0];
      for (let p = 0; p < store.partitions; p++) {
        if ((await redis.exists(store.intakeKey(p))) === 0) continue; // no submission landed here
        const info = (await redis.xinfo("STREAM", store.intakeKey(p))) as unknown[];
        const field = (name: string) => Number(info[info.indexOf(name) + 1]);
        held += field("length");
        added += field("entries-added");
      }
      return { held, added };
    };
    // The trim is the leader's own write, not announced: wait for Redis to show it.
    const trimmed = await eventually(
      async () => {
        const now = await intakes();
        return now.held === 0 ? now : undefined;
      },
      5000,
      "intakes trimmed",
    );
    // Every submission went through an intake, and all of them were dropped once read.
    expect(trimmed.added).toBeGreaterThanOrEqual(ids.length);
  });

  it("keeps delayed tasks across a restart: their timers are rebuilt from the log", async () => {
    const prefix = uniquePrefix("timers");
    const first = await start(prefix);
    await leaderOf(first);
    const commands = new TaskCommands(first.store, { maxPayloadBytes: 1 << 20 });
    const submittedAt = Date.now();
    const { id } = await commands.submit({ type: "delayed", delayMs: 1500 }, noTrace);
    await first.close();
    const second = await start(prefix);
    await leaderOf(second);
    const w = new RawWorker(second.grpcAddress);
    cleanup.push(() => w.close());
    await w.register(["delayed"]);
    const assignment = await w.next("assignment", 10_000);
    expect(assignment.taskId).toBe(id);
    expect(Date.now() - submittedAt).toBeGreaterThanOrEqual(1500);
  });

  it("after the owner of every partition stops, another dispatcher takes them and adopts the running attempts", async () => {
    const prefix = uniquePrefix("failover");
    const a = await start(prefix);
    const first = await leaderOf(a);
    const b = await start(prefix);
    // Both are members now: the partitions are split between them.
    await eventually(
      () =>
        a.dispatcher!.leading && b.dispatcher!.leading && b.dispatcher!.partitions.size > 0
          ? true
          : undefined,
      20_000,
      "partitions split",
    );
    expect(a.dispatcher!.partitions.size + b.dispatcher!.partitions.size).toBe(a.store.partitions);

    const commands = new TaskCommands(first.store, { maxPayloadBytes: 1 << 20 });
    const w1 = new RawWorker(first.grpcAddress);
    cleanup.push(() => w1.close());
    const workerId = await w1.register(["t"]);
    const { id } = await commands.submit({ type: "t" }, noTrace);
    const assignment = await w1.next("assignment");
    const partition = a.store.partitionOf(id);
    const oldEpoch = a.dispatcher!.partitions.get(partition) ?? b.dispatcher!.partitions.get(partition)!;

    await first.close();
    await eventually(
      () => (b.dispatcher!.partitions.size === b.store.partitions ? true : undefined),
      20_000,
      "b owns all",
    );
    expect(b.dispatcher!.partitions.get(partition)).toBeGreaterThanOrEqual(oldEpoch);

    // The worker reconnects to the other dispatcher, still running its attempt: it is adopted, not retried.
    const w2 = new RawWorker(b.grpcAddress);
    cleanup.push(() => w2.close());
    await w2.register(["t"], {
      workerId,
      resumeToken: w1.resumeToken,
      active: [{ taskId: id, attempt: assignment.attempt }],
    });
    w2.send({ $case: "completed", value: { taskId: id, attempt: assignment.attempt, resultJson: '"done"' } });
    expect(await w2.next("ack")).toMatchObject({ accepted: true });
    const state = fold(await b.store.readTask(id));
    expect(state).toMatchObject({ state: "SUCCEEDED", attempt: 1, result: "done" });
  });

  it("fences a paused owner: once another dispatcher claims its partition, the old epoch's writes are rejected", async () => {
    const prefix = uniquePrefix("fence");
    const a = await start(prefix);
    await leaderOf(a);
    const commands = new TaskCommands(a.store, { maxPayloadBytes: 1 << 20 });
    const { id } = await commands.submit({ type: "nobody-handles-this" }, noTrace);
    const partition = a.store.partitionOf(id);
    const oldEpoch = a.dispatcher!.partitions.get(partition)!;

    const b = await start(prefix);
    await a.close(); // its partitions are handed over: b claims each with a higher epoch
    await eventually(() => (b.dispatcher!.partitions.has(partition) ? true : undefined), 20_000, "b owns it");
    // The old owner's writer, as it was before its lease expired (a GC pause, a frozen VM).
    const staleWriter = new LiveTasks(b.store, oldEpoch, () => undefined);

    await expect(
      staleWriter.execute(id, () => ({ type: "AssignTask", data: { workerId: uuidv7(), now: Date.now() } })),
    ).rejects.toBeInstanceOf(StaleEpochError);
    expect(fold(await b.store.readTask(id)).state).toBe("QUEUED");
  });
});
