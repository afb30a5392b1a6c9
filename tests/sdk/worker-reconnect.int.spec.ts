import { afterEach, describe, expect, it } from "vitest";
import { TaskCommands } from "../../commands/task-commands.ts";
import type { RunningServer } from "../../cli/server.ts";
import { Worker, type WorkerEvents } from "../../sdk/typescript/src/index.ts";
import { noTrace } from "../support/dispatcher-fixture.ts";
import { freePort } from "../support/process-cluster.ts";
import { startTestServer } from "../support/server.ts";
import { uniquePrefix } from "../support/services.ts";
import { announced, leading, logState, within } from "../support/signals.ts";

type Registered = WorkerEvents["registered"][0];
const quiet = { debug() {}, info() {}, warn() {}, error() {} };

/** The TypeScript SDK's Worker against a real Taskstream whose dispatcher restarts under it. */
describe("SDK worker against the real dispatcher: a dispatcher restart", () => {
  const cleanup: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const step of cleanup.splice(0).reverse()) await step();
  });

  /** A Taskstream (API and dispatcher) on the given prefix and gRPC port, leading. */
  const serve = async (prefix: string, grpcPort: number): Promise<RunningServer> => {
    const server = await startTestServer({ prefix, grpcPort, roles: new Set(["api", "dispatcher"]) });
    cleanup.push(() => server.close());
    await leading(server.dispatcher!);
    return server;
  };

  it("reconnects to the next dispatcher, resumes its identity and completes the attempt it kept running", async () => {
    const prefix = uniquePrefix("sdk-restart");
    const grpcPort = await freePort();
    const first = await serve(prefix, grpcPort);
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let started!: (attempt: number) => void;
    const running = new Promise<number>((resolve) => (started = resolve));
    const worker = new Worker({
      addresses: [first.grpcAddress],
      logger: quiet,
      handlers: {
        survive: async (_payload, ctx) => {
          started(ctx.attempt);
          await released;
          return "outlived its dispatcher";
        },
      },
    });
    cleanup.push(() => worker.stop({ graceMs: 0, settleMs: 0, flushMs: 0 }));
    await worker.start();
    const workerId = worker.id;
    const commands = new TaskCommands(first.store, { maxPayloadBytes: 1 << 20 });
    const { id } = await commands.submit({ type: "survive" }, noTrace);
    expect(await within(running, "the handler started")).toBe(1);

    const disconnected = announced(worker, "disconnected");
    await first.close();
    await disconnected;
    const resumed = announced(worker, "registered", (info: Registered) => info.workerId === workerId, 20_000);
    const second = await serve(prefix, grpcPort);
    await resumed;
    expect(second.dispatcher!.termFor(id)!.sessions.get(workerId)?.attempts.get(id)).toBe(1);

    const acked = announced(worker, "ack", (ack: WorkerEvents["ack"][0]) => ack.taskId === id);
    release();
    expect(await acked).toEqual([{ taskId: id, attempt: 1, accepted: true, reason: "" }]);
    const state = await logState(second.store, id, (s) => s.state === "SUCCEEDED");
    expect(state).toMatchObject({ attempt: 1, workerId, result: "outlived its dispatcher" });
  });
});
