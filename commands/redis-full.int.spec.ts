import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Redis } from "ioredis";
import { startTestServer } from "../tests/support/server.ts";
import { testServices } from "../tests/support/services.ts";
import type { RunningServer } from "../cli/server.ts";

/** Redis at its maxmemory refuses appends: the API answers 503 and is not ready, then recovers by itself. */
describe("a full Redis", () => {
  let server: RunningServer;
  let redis: Redis;
  const ballast = `ballast-${process.pid}`;
  const post = () =>
    server.http.inject({
      method: "POST",
      url: "/v1/tasks",
      payload: { type: "t", payload: "x".repeat(2000) },
      headers: { "content-type": "application/json" },
    });
  const logLength = async () => {
    let total = 0;
    for (let p = 0; p < server.store.partitions; p++) total += await redis.xlen(server.store.streamKey(p));
    return total;
  };

  beforeAll(async () => {
    server = await startTestServer({ roles: new Set(["api"]) }, "full");
    redis = new Redis(testServices.redisUrl);
  });
  afterAll(async () => {
    await redis.config("SET", "maxmemory", "0");
    await redis.del(ballast);
    redis.disconnect();
    await server.close();
  });

  it("answers 503 with the reason, writes nothing, turns readiness false, and resumes when memory is freed", async () => {
    expect((await post()).statusCode).toBe(201);
    const used = Number(/^used_memory:(\d+)/m.exec(await redis.info("memory"))![1]);
    await redis.config("SET", "maxmemory-policy", "noeviction");
    await redis.config("SET", "maxmemory", String(used + 2_000_000));
    // Fill what is left (SETRANGE grows one value; the last attempt is refused once full).
    for (let i = 0; i < 100; i++) {
      const refused = await redis.append(ballast, "y".repeat(100_000)).then(
        () => false,
        () => true,
      );
      if (refused) break;
    }
    const before = await logLength();
    const refused = await post();
    expect(refused.statusCode).toBe(503);
    expect(refused.json<{ error: { code: string; message: string } }>().error).toMatchObject({
      code: "UNAVAILABLE",
      message: expect.stringMatching(/event log is full.*maxmemory/) as string,
    });
    expect(await logLength()).toBe(before);
    const ready = await server.http.inject({ method: "GET", url: "/readyz" });
    expect(ready.statusCode).toBe(503);
    expect(ready.body).toMatch(/redis-memory/);

    await redis.del(ballast);
    await redis.config("SET", "maxmemory", "0");
    expect((await post()).statusCode).toBe(201);
    expect((await server.http.inject({ method: "GET", url: "/readyz" })).statusCode).toBe(200);
  });
});
