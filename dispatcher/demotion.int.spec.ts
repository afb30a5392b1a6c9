import { connectivityState, status } from "@grpc/grpc-js";
import { afterEach, describe, expect, it } from "vitest";
import type { RunningServer } from "../cli/server.ts";
import { RawWorker } from "../tests/support/raw-worker.ts";
import { eventually, startTestServer } from "../tests/support/server.ts";

describe("a demoted leader", () => {
  let server: RunningServer | undefined;
  afterEach(async () => server?.close());

  it("closes its workers' connections, so that they reconnect to whoever leads now", async () => {
    server = await startTestServer({ roles: new Set(["dispatcher"]) }, "demote");
    const dispatcher = server.dispatcher!;
    await eventually(() => (dispatcher.leading ? true : undefined), 15_000, "leadership");
    const worker = new RawWorker(server.grpcAddress);
    await worker.register(["demotion-test"]);
    const channel = worker.client.getChannel();
    expect(channel.getConnectivityState(false)).toBe(connectivityState.READY);

    await dispatcher.leadership.stop();

    await eventually(() => worker.ended ?? undefined, 5000, "stream ended");
    expect(worker.ended?.code).toBe(status.UNAVAILABLE);
    // The HTTP/2 connection itself is gone (GOAWAY), not only the stream: a new Register would
    // open a new connection, which a Service routes to the ready pod, the new leader.
    await eventually(
      () => (channel.getConnectivityState(false) === connectivityState.READY ? undefined : true),
      5000,
      "connection closed",
    );
    worker.client.close();
  });
});
