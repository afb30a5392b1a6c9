import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { credentials, Metadata, status, type ServiceError } from "@grpc/grpc-js";
import {
  TaskServiceClient,
  type SubmitTaskResponse,
  type Task,
  type TaskSpec,
} from "../proto/gen/taskstream/v1/tasks.ts";
import { startTestServer } from "../tests/support/server.ts";
import type { RunningServer } from "../cli/server.ts";

describe("command API over REST and gRPC", () => {
  let server: RunningServer;
  let grpc: TaskServiceClient;
  const rest = (method: string, url: string, body?: unknown, headers: Record<string, string> = {}) =>
    server.http.inject({ method: method as "GET", url, payload: body as object, headers });
  const grpcCall = <Req, Res>(name: keyof TaskServiceClient, request: Req, metadata = new Metadata()) =>
    new Promise<Res>((resolve, reject) =>
      (
        grpc[name] as unknown as (r: Req, m: Metadata, cb: (e: ServiceError | null, res: Res) => void) => void
      ).call(grpc, request, metadata, (error, response) => (error ? reject(error) : resolve(response))),
    );
  const spec = (overrides: Partial<TaskSpec>): TaskSpec => ({
    namespace: "",
    type: "echo",
    payloadJson: "",
    requires: {},
    idempotencyKey: "",
    runAt: "",
    metadata: {},
    retry: undefined,
    timeouts: undefined,
    concurrencyKey: "",
    ...overrides,
  });

  beforeAll(async () => {
    server = await startTestServer({ roles: new Set(["api"]), maxPayloadBytes: 2048 }, "api");
    grpc = new TaskServiceClient(server.grpcAddress, credentials.createInsecure());
  });
  afterAll(async () => {
    grpc.close();
    await server.close();
  });

  it("POST /v1/tasks answers 201 with the id, and GET shows the task folded from the log", async () => {
    const created = await rest("POST", "/v1/tasks", {
      type: "echo",
      payload: { a: 1 },
      priority: 7,
      requires: { region: "eu" },
      metadata: { tenant: "t1" },
    });
    expect(created.statusCode).toBe(201);
    const { id, deduplicated } = created.json<{ id: string; deduplicated: boolean }>();
    expect(deduplicated).toBe(false);
    const got = await rest("GET", `/v1/tasks/${id}`);
    expect(got.statusCode).toBe(200);
    expect(got.json()).toMatchObject({
      id,
      type: "echo",
      state: "QUEUED",
      priority: 7,
      attempt: 0,
      payload: { a: 1 },
      requires: { region: "eu" },
      metadata: { tenant: "t1" },
      maxAttempts: 5,
    });
  });

  it("deduplicates by idempotency key across REST and gRPC: 200 with the first id", async () => {
    const key = `key-${Date.now()}`;
    const first = await rest("POST", "/v1/tasks", { type: "echo", idempotencyKey: key });
    const second = await rest("POST", "/v1/tasks", { idempotencyKey: key, type: "echo" });
    expect(first.statusCode).toBe(201);
    expect(second.statusCode).toBe(200);
    expect(second.json()).toEqual({ id: first.json<{ id: string }>().id, deduplicated: true });
    const viaGrpc = await grpcCall<unknown, SubmitTaskResponse>("submitTask", {
      task: spec({ idempotencyKey: key }),
    });
    expect(viaGrpc).toEqual({ id: first.json<{ id: string }>().id, deduplicated: true, conflict: false });
  });

  it("rejects bad input with 400 naming every bad field, and writes nothing", async () => {
    const key = `bad-${Date.now()}`;
    const response = await rest("POST", "/v1/tasks", {
      type: "",
      priority: 12,
      retry: { maxAttempts: 0 },
      runAt: "tomorrow",
      colour: "red",
      idempotencyKey: key,
    });
    expect(response.statusCode).toBe(400);
    const fields = response
      .json<{ error: { code: string; fields: { field: string }[] } }>()
      .error.fields.map((f) => f.field);
    expect(fields).toEqual(
      expect.arrayContaining(["type", "priority", "retry.maxAttempts", "runAt", "colour"]),
    );
    // Nothing was written: the same key is still free.
    expect((await rest("POST", "/v1/tasks", { type: "echo", idempotencyKey: key })).statusCode).toBe(201);
  });

  it("rejects impossible combinations with the field named", async () => {
    const cases: [Record<string, unknown>, string, RegExp][] = [
      [{ type: "echo", runAt: "2001-01-01T00:00:00Z" }, "runAt", /past/],
      [{ type: "echo", runAt: "2999-01-01T00:00:00Z" }, "runAt", /year/],
      [{ type: "echo", runAt: new Date().toISOString(), delayMs: 10 }, "delayMs", /runAt/],
      [{ type: "echo", concurrencyLimit: 2 }, "concurrencyLimit", /concurrencyKey/],
      [{ type: "echo", retry: { maxAttempts: 0 } }, "retry.maxAttempts", /1/],
      [
        { type: "echo", retry: { initialBackoffMs: 5000, maxBackoffMs: 10 } },
        "retry.maxBackoffMs",
        /initialBackoffMs/,
      ],
      [{ type: "echo", timeouts: { heartbeatMs: -5 } }, "timeouts.heartbeatMs", /./],
    ];
    for (const [body, field, reason] of cases) {
      const response = await rest("POST", "/v1/tasks", body);
      expect(response.statusCode, JSON.stringify(body)).toBe(400);
      const fields = response.json<{ error: { fields: { field: string; reason: string }[] } }>().error.fields;
      expect(fields.find((f) => f.field === field)?.reason, JSON.stringify(body)).toMatch(reason);
    }
  });

  it("answers 400 for a body that is not JSON or not an object", async () => {
    const notJson = await server.http.inject({
      method: "POST",
      url: "/v1/tasks",
      payload: "{nope",
      headers: { "content-type": "application/json" },
    });
    expect(notJson.statusCode).toBe(400);
    expect(notJson.json()).toMatchObject({ error: { code: "VALIDATION" } });
    expect((await rest("POST", "/v1/tasks", [1, 2])).statusCode).toBe(400);
  });

  it("answers 413 for a payload over the limit (REST) and RESOURCE_EXHAUSTED (gRPC)", async () => {
    const big = "x".repeat(4096);
    const response = await rest("POST", "/v1/tasks", { type: "echo", payload: big });
    expect(response.statusCode).toBe(413);
    await expect(
      grpcCall("submitTask", { task: spec({ payloadJson: JSON.stringify(big) }) }),
    ).rejects.toMatchObject({ code: status.RESOURCE_EXHAUSTED });
  });

  it("answers 404 / NOT_FOUND for unknown tasks", async () => {
    expect((await rest("GET", "/v1/tasks/00000000-0000-7000-8000-000000000000")).statusCode).toBe(404);
    expect((await rest("POST", "/v1/tasks/00000000-0000-7000-8000-000000000000/cancel", {})).statusCode).toBe(
      404,
    );
    await expect(grpcCall("getTask", { id: "nope" })).rejects.toMatchObject({ code: status.NOT_FOUND });
  });

  it("cancels a queued task at once; cancelling it again is 409 / FAILED_PRECONDITION and changes nothing", async () => {
    const { id } = (await rest("POST", "/v1/tasks", { type: "echo" })).json<{ id: string }>();
    const cancelled = await rest("POST", `/v1/tasks/${id}/cancel`, { reason: "no longer needed" });
    expect(cancelled.statusCode).toBe(200);
    expect(cancelled.json()).toMatchObject({ state: "CANCELLED" });
    const again = await rest("POST", `/v1/tasks/${id}/cancel`, {});
    expect(again.statusCode).toBe(409);
    await expect(grpcCall("cancelTask", { id, reason: "" })).rejects.toMatchObject({
      code: status.FAILED_PRECONDITION,
    });
    const history = (await rest("GET", `/v1/tasks/${id}/history`)).json<{ events: { type: string }[] }>();
    expect(history.events.map((e) => e.type)).toEqual(["TaskSubmitted", "TaskCancelled"]);
  });

  it("submits over gRPC, one and many, with field errors in INVALID_ARGUMENT", async () => {
    const one = await grpcCall<unknown, SubmitTaskResponse>("submitTask", {
      task: spec({ payloadJson: '{"x":1}', priority: 0 }),
    });
    const task = await grpcCall<unknown, Task>("getTask", { id: one.id });
    expect(task).toMatchObject({ id: one.id, state: "QUEUED", priority: 0, payloadJson: '{"x":1}' });
    const many = await grpcCall<unknown, { results: SubmitTaskResponse[] }>("submitTasks", {
      tasks: [spec({}), spec({ type: "b" })],
    });
    expect(many.results).toHaveLength(2);
    const error = await grpcCall("submitTasks", {
      tasks: [spec({}), spec({ priority: 99 }), spec({ payloadJson: "{bad" })],
    }).catch((e: ServiceError) => e);
    expect((error as ServiceError).code).toBe(status.INVALID_ARGUMENT);
    expect((error as ServiceError).details).toMatch(/tasks\[1\]\.priority/);
    expect((error as ServiceError).details).toMatch(/tasks\[2\]\.payload_json/);
  });

  it("records the caller's trace context with the task", async () => {
    const traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    const { id } = (await rest("POST", "/v1/tasks", { type: "echo" }, { traceparent })).json<{
      id: string;
    }>();
    const [submitted] = await server.store.readTask(id);
    expect(submitted?.type === "TaskSubmitted" && submitted.data.spec.traceparent).toContain(
      "0af7651916cd43dd8448eb211c80319c",
    );
  });

  it("serves /healthz, /readyz and /metrics, counting its own submissions and deduplications", async () => {
    expect((await rest("GET", "/healthz")).statusCode).toBe(200);
    expect((await rest("GET", "/readyz")).json()).toMatchObject({ status: "ready" });
    const counters = async () => {
      const metrics = (await rest("GET", "/metrics")).body;
      const value = (name: string) => Number(new RegExp(`^${name} (\\d+)$`, "m").exec(metrics)?.[1]);
      return {
        submitted: value("taskstream_tasks_submitted_total"),
        deduplicated: value("taskstream_tasks_deduplicated_total"),
      };
    };
    const before = await counters();
    const task = { type: "echo", idempotencyKey: `metrics-${randomUUID()}` };
    expect((await rest("POST", "/v1/tasks", task)).statusCode).toBe(201);
    expect((await rest("POST", "/v1/tasks", task)).json()).toMatchObject({ deduplicated: true });
    expect(await counters()).toEqual({
      submitted: before.submitted + 1,
      deduplicated: before.deduplicated + 1,
    });
  });
});
