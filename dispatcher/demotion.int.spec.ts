import { connectivityState, status } from "@grpc/grpc-js";
import { afterEach, describe, expect, it } from "vitest";
import type { RunningServer } from "../cli/server.ts";
import { RawWorker } from "../tests/support/raw-worker.ts";
import { startTestServer } from "../tests/support/server.ts";
import { leading } from "../tests/support/signals.ts";

describe("a demoted leader", () => {
  let server: RunningServer | undefined;
  afterEach(async () => server?.close());

  it("closes its workers' connections, so that they reconnect to whoever leads now", async () => {
    server = await startTestServer({ roles: new Set(["dispatcher"]) }, "demote");
    const dispatcher = server.dispatcher!;
    await leading(dispatcher);
    const worker = new RawWorker(server.grpcAddress);
    await worker.register(["demotion-test"]);
    const channel = worker.client.getChannel();
    expect(channel.getConnectivityState(false)).toBe(connectivityState.READY);

    await dispatcher.leadership.stop();

    expect((await worker.closed(5000)).code).toBe(status.UNAVAILABLE);
    // The HTTP/2 connection itself is gone (GOAWAY), not only the stream: a new Register would
    // open a new connection, which a Service routes to the ready pod, the new leader.
    // The channel announces its next state change (it does not call back for a change already made).
    if (channel.getConnectivityState(false) === connectivityState.READY)
      await new Promise<void>((resolve, reject) =>
        channel.watchConnectivityState(connectivityState.READY, Date.now() + 5000, (error) =>
          error ? reject(error) : resolve(),
        ),
      );
    expect(channel.getConnectivityState(false)).not.toBe(connectivityState.READY);
    worker.client.close();
  });
});
