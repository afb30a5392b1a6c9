import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { credentials, Metadata, status, type ServiceError } from "@grpc/grpc-js";
import { TaskServiceClient, type TaskSpec } from "../proto/gen/taskstream/v1/tasks.ts";
import { startTestServer } from "../tests/support/server.ts";
import type { RunningServer } from "../cli/server.ts";

/** Idempotency keys: retries answer the first task; a key reused for another request is reported. */
describe("idempotency keys", () => {
  let server: RunningServer;
  let grpc: TaskServiceClient;
  const post = (url: string, body: unknown) =>
    server.http.inject({
      method: "POST",
      url,
      payload: body as object,
      headers: { "content-type": "application/json" },
    });
  const spec = (key: string, payloadJson: string): TaskSpec => ({
    namespace: "",
    type: "idem",
    payloadJson,
    requires: {},
    idempotencyKey: key,
    runAt: "",
    metadata: {},
    retry: undefined,
    timeouts: undefined,
    concurrencyKey: "",
  });

  beforeAll(async () => {
    server = await startTestServer({ roles: new Set(["api"]) }, "idem");
    grpc = new TaskServiceClient(server.grpcAddress, credentials.createInsecure());
  });
  afterAll(async () => {
    grpc.close();
    await server.close();
  });

  it("gives many clients sending the same key at the same moment one task", async () => {
    const body = { type: "idem", payload: { n: 1 }, idempotencyKey: `race-${Date.now()}` };
    const answers = await Promise.all(Array.from({ length: 25 }, () => post("/v1/tasks", body)));
    const created = answers.filter((a) => a.statusCode === 201);
    const deduplicated = answers.filter((a) => a.statusCode === 200);
    expect(created).toHaveLength(1);
    expect(deduplicated).toHaveLength(24);
    const ids = new Set(answers.map((a) => a.json<{ id: string }>().id));
    expect(ids.size).toBe(1);
  });

  it("answers a retry of the same request with the first task, whatever the order of its fields", async () => {
    const key = `retry-${Date.now()}`;
    const first = await post("/v1/tasks", {
      type: "idem",
      payload: { a: 1, b: 2 },
      idempotencyKey: key,
      delayMs: 1000,
    });
    const again = await post("/v1/tasks", {
      delayMs: 1000,
      idempotencyKey: key,
      payload: { b: 2, a: 1 },
      type: "idem",
    });
    expect(first.statusCode).toBe(201);
    expect(again.statusCode).toBe(200);
    expect(again.json()).toEqual({ id: first.json<{ id: string }>().id, deduplicated: true });
  });

  it("refuses a key reused for a different request: 409 over REST, ALREADY_EXISTS over gRPC, flagged in batches", async () => {
    const key = `reuse-${Date.now()}`;
    const first = await post("/v1/tasks", { type: "idem", payload: { a: 1 }, idempotencyKey: key });
    const { id } = first.json<{ id: string }>();
    const reused = await post("/v1/tasks", { type: "idem", payload: { a: 2 }, idempotencyKey: key });
    expect(reused.statusCode).toBe(409);
    expect(reused.json()).toMatchObject({
      error: { code: "IDEMPOTENCY_CONFLICT", message: expect.stringContaining(`task ${id}`) as string },
    });
    const batch = await post("/v1/tasks/batch", {
      tasks: [
        { type: "idem", payload: { a: 3 }, idempotencyKey: key },
        { type: "idem", payload: { a: 1 }, idempotencyKey: key },
      ],
    });
    expect(batch.json()).toEqual({
      results: [
        { id, deduplicated: true, conflict: true },
        { id, deduplicated: true },
      ],
    });
    const error = await new Promise<ServiceError>((resolve) =>
      grpc.submitTask({ task: spec(key, '{"a":9}') }, new Metadata(), (e) => resolve(e!)),
    );
    expect(error.code).toBe(status.ALREADY_EXISTS);
  });
});
