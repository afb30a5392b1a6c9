import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Server, ServerCredentials, status } from "@grpc/grpc-js";
import { DiscoveryClient } from "../tests/support/grpc-reflection-client.ts";
import { GrpcHealth } from "./grpc-health.ts";
import type { ReadinessCheck } from "./health.ts";

/** A check the test turns on and off. */
function toggle(name: string) {
  const state = { ok: true, runs: 0 };
  const check: ReadinessCheck = {
    name,
    check: async () => {
      state.runs += 1;
      if (!state.ok) throw new Error(`${name} is down`);
    },
  };
  return { check, state };
}

describe("GrpcHealth: the gRPC health service over the readiness checks", () => {
  const redis = toggle("redis");
  const lease = toggle("dispatcher-partitions");
  const recorded: string[] = [];
  const health = new GrpcHealth([redis.check, lease.check], {
    record: (name, ok) => recorded.push(`${name}=${ok}`),
    watchIntervalMs: 50,
  });
  const server = new Server();
  let client: DiscoveryClient;

  beforeAll(async () => {
    health.serve("taskstream.v1.TaskService", ["redis"]);
    health.serve("taskstream.v1.WorkerService", ["redis", "dispatcher-partitions"]);
    health.addToServer(server);
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (error, bound) =>
        error ? reject(error) : resolve(bound),
      ),
    );
    client = new DiscoveryClient(`127.0.0.1:${port}`);
  });
  afterAll(async () => {
    health.stop();
    client.close();
    await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
  });

  it("answers Check from the checks each service needs, run at the call", async () => {
    expect(await client.check("")).toBe("SERVING");
    lease.state.ok = false;
    expect(await client.check("")).toBe("NOT_SERVING");
    expect(await client.check("taskstream.v1.TaskService")).toBe("SERVING");
    expect(await client.check("taskstream.v1.WorkerService")).toBe("NOT_SERVING");
    redis.state.ok = false;
    expect(await client.check("taskstream.v1.TaskService")).toBe("NOT_SERVING");
    redis.state.ok = true;
    lease.state.ok = true;
    expect(await client.check("taskstream.v1.WorkerService")).toBe("SERVING");
    expect(await client.check("taskstream.cluster.v1.PeerService")).toBe(`error ${status.NOT_FOUND}`);
    expect(recorded).toContain("dispatcher-partitions=false");
  });

  it("runs the checks once for calls that arrive together", async () => {
    const before = redis.state.runs;
    await Promise.all(Array.from({ length: 20 }, () => health.refresh()));
    expect(redis.state.runs - before).toBe(1);
    await health.refresh(); // a later call runs them again
    expect(redis.state.runs - before).toBe(2);
  });

  it("tells Watch streams each change once, from the periodic refresh", async () => {
    health.start();
    const seen: string[] = [];
    const watch = client.health.Watch({ service: "taskstream.v1.WorkerService" });
    watch.on("data", (answer: { status: string }) => seen.push(answer.status));
    watch.on("error", () => undefined); // cancelled below
    const until = async (condition: () => boolean) => {
      for (let i = 0; i < 200 && !condition(); i++) await new Promise((resolve) => setTimeout(resolve, 10));
    };
    await until(() => seen.length === 1);
    lease.state.ok = false;
    await until(() => seen.length === 2);
    const runs = lease.state.runs;
    await until(() => lease.state.runs >= runs + 3); // more refreshes, no change: nothing sent
    lease.state.ok = true;
    await until(() => seen.length === 3);
    expect(seen).toEqual(["SERVING", "NOT_SERVING", "SERVING"]);
    (watch as unknown as { cancel(): void }).cancel();
  });
});
