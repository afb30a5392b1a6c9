import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { TaskCommands } from "../../commands/task-commands.ts";
import type { RunningServer } from "../../cli/server.ts";
import { CancelledError, Worker, type Handler, type TaskContext } from "../../sdk/typescript/src/index.ts";
import { noTrace } from "../support/dispatcher-fixture.ts";
import { startTestServer } from "../support/server.ts";
import { leading, logState, within } from "../support/signals.ts";

/** A promise with its resolve function: a handler waits on it, or tells the test it got there. */
function signal<T = void>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

const quiet = { debug() {}, info() {}, warn() {}, error() {} };

/** The TypeScript SDK's Worker against a real Taskstream: graceful stop and cancellation. */
describe("SDK worker against the real dispatcher: stop and cancel", () => {
  let server: RunningServer;
  let commands: TaskCommands;
  const workers: Worker[] = [];
  const worker = (handlers: Record<string, Handler>) => {
    const w = new Worker({ addresses: [server.grpcAddress], handlers, slots: 2, logger: quiet });
    workers.push(w);
    return w;
  };

  beforeAll(async () => {
    server = await startTestServer({ roles: new Set(["api", "dispatcher"]) }, "sdk-stop");
    commands = new TaskCommands(server.store, { maxPayloadBytes: 1 << 20 });
    await leading(server.dispatcher!);
  });
  afterEach(async () => {
    await Promise.all(workers.splice(0).map((w) => w.stop({ graceMs: 0, settleMs: 0, flushMs: 0 })));
  });
  afterAll(async () => server?.close());

  it("stops gracefully: the attempt in flight finishes and is recorded, new work is handed back", async () => {
    const started = signal<TaskContext>();
    const release = signal();
    const w = worker({
      hold: async (_payload, ctx) => {
        started.resolve(ctx);
        await release.promise;
        return "finished in the grace period";
      },
    });
    await w.start();
    const { id } = await commands.submit({ type: "hold" }, noTrace);
    const ctx = await within(started.promise, "the handler started");

    let stopped = false;
    const stopping = w.stop({ graceMs: 20_000 }).then(() => (stopped = true));
    // Work offered while it stops is handed back (WORKER_STOPPING), to be retried elsewhere.
    const refused = new Promise((resolve) => w.once("failed", resolve));
    const late = (await commands.submit({ type: "hold", retry: { initialBackoffMs: 60_000 } }, noTrace)).id;
    expect(await refused).toMatchObject({ taskId: late, errorType: "WORKER_STOPPING" });
    expect(stopped).toBe(false);

    release.resolve();
    await stopping;
    expect(ctx.signal.aborted).toBe(false);
    const done = await logState(server.store, id, (s) => s.state === "SUCCEEDED");
    expect(done).toMatchObject({ attempt: 1, result: "finished in the grace period" });
    const handedBack = await logState(server.store, late, (s) => s.lastError !== null);
    expect(handedBack).toMatchObject({ state: "QUEUED", lastError: { type: "WORKER_STOPPING" } });
  });

  it("passes a cancel to the handler's signal, and the task ends CANCELLED", async () => {
    const started = signal<TaskContext>();
    const w = worker({
      patient: (_payload, ctx) =>
        new Promise((_resolve, reject) => {
          started.resolve(ctx);
          ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason as Error));
        }),
    });
    await w.start();
    const { id } = await commands.submit({ type: "patient" }, noTrace);
    const ctx = await within(started.promise, "the handler started");
    const aborted = new Promise((resolve) => ctx.signal.addEventListener("abort", resolve));

    await commands.cancel(id, "no longer needed");

    await within(aborted, "the handler's signal aborted by the cancel");
    expect(ctx.signal.reason).toBeInstanceOf(CancelledError);
    const state = await logState(server.store, id, (s) => s.state === "CANCELLED");
    expect(state).toMatchObject({ attempt: 1, cancelRequested: true });
    const history = (await server.store.readTask(id)).map((event) => event.type);
    expect(history.slice(-2)).toEqual(["TaskAttemptFailed", "TaskCancelled"]);
  });
});
