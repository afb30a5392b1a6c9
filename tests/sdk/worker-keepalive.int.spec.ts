import { afterEach, describe, expect, it } from "vitest";
import { TaskCommands } from "../../commands/task-commands.ts";
import { Worker, type WorkerEvents } from "../../sdk/typescript/src/index.ts";
import { noTrace } from "../support/dispatcher-fixture.ts";
import { FreezingProxy } from "../support/freezing-proxy.ts";
import { startTestServer } from "../support/server.ts";
import { announced, leading, logState } from "../support/signals.ts";

const quiet = { debug() {}, info() {}, warn() {}, error() {} };

/**
 * A dispatcher that freezes without closing its connections (a crashed host, a dark route): the
 * SDK's keepalive pings go unanswered, the stream ends, and the worker moves to the next address.
 * Without keepalive the worker would wait on the dead connection for good.
 */
describe("SDK worker: a dispatcher that goes silent without closing the connection", () => {
  const cleanup: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const step of cleanup.splice(0).reverse()) await step();
  });

  it("notices the silence through keepalive pings and carries on through the next address", async () => {
    const server = await startTestServer({ roles: new Set(["api", "dispatcher"]) }, "keepalive");
    cleanup.push(() => server.close());
    await leading(server.dispatcher!);
    const [host, port] = server.grpcAddress.split(":") as [string, string];
    const proxy = await FreezingProxy.start({ host, port: Number(port) });
    cleanup.push(() => proxy.close());

    const worker = new Worker({
      addresses: [proxy.address, server.grpcAddress],
      logger: quiet,
      keepalive: { timeMs: 500, timeoutMs: 500 },
      handlers: { echo: (payload) => Promise.resolve(payload) },
    });
    cleanup.push(() => worker.stop({ graceMs: 0, settleMs: 0, flushMs: 0 }));
    const registered = announced(worker, "registered");
    await worker.start();
    const [first] = (await registered) as [WorkerEvents["registered"][0]];
    expect(first.address).toBe(proxy.address);

    const disconnected = announced(worker, "disconnected", undefined, 20_000);
    const moved = announced(
      worker,
      "registered",
      (info: WorkerEvents["registered"][0]) => info.address === server.grpcAddress,
      30_000,
    );
    proxy.freeze();
    await disconnected;
    await moved;

    const commands = new TaskCommands(server.store, { maxPayloadBytes: 1 << 20 });
    const { id } = await commands.submit({ type: "echo", payload: "after the freeze" }, noTrace);
    const state = await logState(server.store, id, (s) => s.state === "SUCCEEDED");
    expect(state.result).toBe("after the freeze");
  });
});
