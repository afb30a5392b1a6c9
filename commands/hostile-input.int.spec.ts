import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { credentials, Metadata, status, type ServiceError } from "@grpc/grpc-js";
import type { RedisClient } from "../event-store/redis-client.ts";
import { TaskServiceClient, type TaskSpec } from "../proto/gen/taskstream/v1/tasks.ts";
import { startTestServer } from "../tests/support/server.ts";
import { connectTestRedis } from "../tests/support/services.ts";
import type { RunningServer } from "../cli/server.ts";

/** Input a hostile or careless client sends: each is refused with the field named, and nothing is written. */
describe("hostile input to the command API", () => {
  let server: RunningServer;
  let grpc: TaskServiceClient;
  let redis: RedisClient;
  const post = (url: string, payload: string) =>
    server.http.inject({ method: "POST", url, payload, headers: { "content-type": "application/json" } });
  const logLength = async () => {
    let total = 0;
    for (let p = 0; p < server.store.partitions; p++) total += await redis.xlen(server.store.streamKey(p));
    return total;
  };

  beforeAll(async () => {
    server = await startTestServer({ roles: new Set(["api"]) }, "hostile");
    grpc = new TaskServiceClient(server.grpcAddress, credentials.createInsecure());
    redis = connectTestRedis({ enableAutoPipelining: false });
  });
  afterAll(async () => {
    grpc.close();
    redis.disconnect();
    await server.close();
  });

  const nul = "\u0000";
  const refused: [string, unknown, string][] = [
    ["NUL in the idempotency key", { type: "t", idempotencyKey: `a${nul}b` }, "idempotencyKey"],
    ["NUL in the payload", { type: "t", payload: { a: [`x${nul}`] } }, "payload.a[0]"],
    ["NUL in a payload key", { type: "t", payload: { [`k${nul}`]: 1 } }, 'payload["k\\u0000"]'],
    ["a lone surrogate in the payload", { type: "t", payload: "\ud800" }, "payload"],
    ["NUL in a metadata value", { type: "t", metadata: { k: `v${nul}` } }, "metadata.k"],
    ["a newline in a metadata key", { type: "t", metadata: { "a\nb": "v" } }, 'metadata["a\\nb"]'],
    ["NUL in a requires key", { type: "t", requires: { [`r${nul}`]: "v" } }, 'requires["r\\u0000"]'],
    ["NUL in a concurrency key", { type: "t", concurrencyKey: `c${nul}` }, "concurrencyKey"],
    ["a control character in the type", { type: "t\u0007" }, "type"],
  ];
  for (const [what, body, field] of refused) {
    it(`refuses ${what} with 400 naming ${field}, writing nothing`, async () => {
      const before = await logLength();
      const answer = await post("/v1/tasks", JSON.stringify(body));
      expect(answer.statusCode).toBe(400);
      const error = answer.json<{ error: { code: string; fields: { field: string; reason: string }[] } }>()
        .error;
      expect(error.code).toBe("VALIDATION");
      expect(error.fields.map((f) => f.field)).toContain(field);
      expect(await logLength()).toBe(before);
    });
  }

  it("refuses JSON nested 2,000 and 100,000 levels deep with 400, not 500", async () => {
    for (const depth of [2000, 100_000]) {
      const payload = `{"type":"t","payload":${"[".repeat(depth)}${"]".repeat(depth)}}`;
      const answer = await post("/v1/tasks", payload);
      expect(answer.statusCode, `depth ${depth}`).toBe(400);
      expect(answer.json<{ error: { fields: { reason: string }[] } }>().error.fields[0]?.reason).toMatch(
        /nests deeper than 64 levels/,
      );
    }
    const batch = `{"tasks":[{"type":"t","payload":${"[".repeat(5000)}${"]".repeat(5000)}}]}`;
    expect((await post("/v1/tasks/batch", batch)).statusCode).toBe(400);
  });

  it("lists each unknown field as its own entry", async () => {
    const answer = await post("/v1/tasks", JSON.stringify({ type: "t", colour: 1, size: 2 }));
    expect(answer.json<{ error: { fields: unknown[] } }>().error.fields).toEqual([
      { field: "colour", reason: "is not a known field" },
      { field: "size", reason: "is not a known field" },
    ]);
  });

  it("refuses the same over gRPC with INVALID_ARGUMENT and the field errors in the trailers", async () => {
    const before = await logLength();
    const task: TaskSpec = {
      namespace: "",
      type: "t",
      payloadJson: JSON.stringify({ deep: JSON.parse(`${"[".repeat(3000)}${"]".repeat(3000)}`) as unknown }),
      requires: {},
      idempotencyKey: `k${nul}`,
      runAt: "",
      metadata: { m: `v${nul}` },
      retry: undefined,
      timeouts: undefined,
      concurrencyKey: "",
    };
    const error = await new Promise<ServiceError>((resolve) =>
      grpc.submitTask({ task }, new Metadata(), (e) => resolve(e!)),
    );
    expect(error.code).toBe(status.INVALID_ARGUMENT);
    const fields = JSON.parse(String(error.metadata.get("field-errors")[0])) as { field: string }[];
    expect(fields.map((f) => f.field)).toEqual(
      expect.arrayContaining(["idempotencyKey", "metadata.m", expect.stringMatching(/^payload\.deep\[0\]/)]),
    );
    expect(await logLength()).toBe(before);
  });

  it("refuses a cancel reason that cannot be stored", async () => {
    const created = await post("/v1/tasks", JSON.stringify({ type: "t" }));
    const { id } = created.json<{ id: string }>();
    const before = await logLength();
    const answer = await post(`/v1/tasks/${id}/cancel`, JSON.stringify({ reason: `no${nul}` }));
    expect(answer.statusCode).toBe(400);
    expect(answer.json<{ error: { fields: { field: string }[] } }>().error.fields[0]?.field).toBe("reason");
    expect(await logLength()).toBe(before);
  });
});
