import { Server, ServerCredentials, status, type Metadata, type ServiceError } from "@grpc/grpc-js";
import { ROOT_CONTEXT, TraceFlags, context, trace } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  TaskServiceService,
  type Task,
  type TaskServiceServer,
} from "../../../proto/gen/taskstream/v1/tasks.ts";
import { TaskstreamClient, TaskstreamError } from "../src/client.ts";

const task: Task = {
  id: "t1",
  namespace: "default",
  type: "echo",
  state: "SUCCEEDED",
  priority: 7,
  attempt: 2,
  maxAttempts: 5,
  payloadJson: '{"a":1}',
  resultJson: '{"ok":true}',
  lastError: { message: "flaky", type: "Error", nonRetryable: false },
  idempotencyKey: "k",
  requires: { gpu: "a100" },
  metadata: { tenant: "x" },
  createdAt: "2025-01-01T00:00:00.000Z",
  updatedAt: "2025-01-01T00:00:01.000Z",
  availableAt: "2025-01-01T00:00:00.000Z",
  cancelRequested: false,
  version: 6,
  workerId: "w-1",
};

/** What the fake TaskService received: the request and the call's metadata. */
const calls: { method: string; request: unknown; metadata: Metadata }[] = [];
const notFound = (id: string): Partial<ServiceError> => ({
  code: status.NOT_FOUND,
  details: `task ${id} not found`,
});

const invalid: Partial<ServiceError> = { code: status.INVALID_ARGUMENT, details: "type: bad" };

const service: TaskServiceServer = {
  submitTask: (call, callback) => {
    calls.push({ method: "submitTask", request: call.request, metadata: call.metadata });
    if (call.request.task?.type === "bad") return callback(invalid);
    if (call.request.task?.idempotencyKey === "reused")
      return callback({ code: status.ALREADY_EXISTS, details: "used for a different request (task first)" });
    const own = call.request.task?.type === "own" ? `own:${call.request.task.payloadJson}` : "new-id";
    callback(null, { id: own, deduplicated: call.request.task?.idempotencyKey === "seen", conflict: false });
  },
  submitTasks: (call, callback) => {
    calls.push({ method: "submitTasks", request: call.request, metadata: call.metadata });
    if (call.request.tasks.some((t) => t.type === "bad")) return callback(invalid);
    const id = (t: { type: string; payloadJson: string }, i: number) =>
      t.type === "own" ? `own:${t.payloadJson}` : `id-${i}`;
    callback(null, {
      results: call.request.tasks.map((t, i) =>
        t.idempotencyKey === "reused"
          ? { id: "first", deduplicated: true, conflict: true }
          : { id: id(t, i), deduplicated: false, conflict: false },
      ),
    });
  },
  getTask: (call, callback) =>
    call.request.id === "t1" ? callback(null, task) : callback(notFound(call.request.id)),
  cancelTask: (call, callback) =>
    callback(null, { task: { ...task, state: "RUNNING", cancelRequested: true, resultJson: "" } }),
  retryTask: (call, callback) =>
    call.request.id === "t1"
      ? callback(null, { task: { ...task, state: "QUEUED" } })
      : callback(notFound(call.request.id)),
  listTasks: (call, callback) => {
    calls.push({ method: "listTasks", request: call.request, metadata: call.metadata });
    callback(null, { tasks: [task], nextPageToken: call.request.pageToken === "" ? "next" : "" });
  },
  getTaskHistory: (_call, callback) =>
    callback(null, {
      events: [
        {
          version: 1,
          type: "TaskSubmitted",
          at: "2025-01-01T00:00:00.000Z",
          dataJson: '{"type":"echo"}',
          actor: "k:abc",
        },
      ],
    }),
};

describe("TaskstreamClient", () => {
  const server = new Server();
  let client: TaskstreamClient;
  let clientAddress = "";

  beforeAll(async () => {
    server.addService(TaskServiceService, service);
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (error, bound) =>
        error ? reject(error) : resolve(bound),
      ),
    );
    clientAddress = `127.0.0.1:${port}`;
    client = new TaskstreamClient({ address: clientAddress });
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  });
  afterAll(() => {
    client.close();
    server.forceShutdown();
    context.disable();
  });
  beforeEach(() => void calls.splice(0));

  it("submits a spec in its wire form", async () => {
    const runAt = new Date("2030-01-02T03:04:05.000Z");
    const result = await client.submit({
      type: "resize",
      payload: { url: "u" },
      priority: 9,
      requires: { region: "eu" },
      idempotencyKey: "seen",
      runAt,
      retry: { maxAttempts: 3, initialBackoffMs: 100 },
      timeouts: { startToCloseMs: 1000 },
      metadata: { m: "1" },
    });
    expect(result).toEqual({ id: "new-id", deduplicated: true });
    expect(calls[0]?.request).toEqual({
      task: {
        namespace: "",
        type: "resize",
        payloadJson: '{"url":"u"}',
        priority: 9,
        requires: { region: "eu" },
        idempotencyKey: "seen",
        runAt: "2030-01-02T03:04:05.000Z",
        retry: {
          maxAttempts: 3,
          initialBackoffMs: 100,
          backoffMultiplier: undefined,
          maxBackoffMs: undefined,
        },
        timeouts: { scheduleToStartMs: undefined, startToCloseMs: 1000, heartbeatMs: undefined },
        metadata: { m: "1" },
        delayMs: undefined,
        concurrencyKey: "",
        concurrencyLimit: undefined,
      },
    });
  });

  it("leaves out what the spec leaves out (empty payload means null on the server)", async () => {
    await client.submit({ type: "echo", runAt: "2030-01-01T00:00:00Z" });
    expect(calls[0]?.request).toMatchObject({
      task: {
        type: "echo",
        payloadJson: "",
        priority: undefined,
        runAt: "2030-01-01T00:00:00Z",
        retry: undefined,
        timeouts: undefined,
      },
    });
    expect(calls[0]?.metadata.get("traceparent")).toEqual([]);
  });

  it("rejects a coalesced submission whose key was used for another request, and flags it in submitMany", async () => {
    await expect(client.submit({ type: "a", idempotencyKey: "reused" })).rejects.toMatchObject({
      status: "ALREADY_EXISTS",
    });
    // Two at once share one SubmitTasks call: the reused key comes back flagged, and is an error too.
    const [reused, other] = await Promise.allSettled([
      client.submit({ type: "a", idempotencyKey: "reused" }),
      client.submit({ type: "b" }),
      client.submit({ type: "c" }),
    ]);
    expect(reused).toMatchObject({ status: "rejected", reason: { status: "ALREADY_EXISTS" } });
    expect(other).toMatchObject({ status: "fulfilled" });
    expect(await client.submitMany([{ type: "a", idempotencyKey: "reused" }, { type: "b" }])).toEqual([
      { id: "first", deduplicated: true, conflict: true },
      { id: "id-1", deduplicated: false },
    ]);
  });

  it("submits many in one call", async () => {
    expect(await client.submitMany([{ type: "a" }, { type: "b", payload: 1 }])).toEqual([
      { id: "id-0", deduplicated: false },
      { id: "id-1", deduplicated: false },
    ]);
    expect(calls).toHaveLength(1);
  });

  it("lists tasks a page at a time with the filter in its wire form", async () => {
    const page = await client.list({ state: "SUCCEEDED", type: "echo", pageSize: 2 });
    expect(page.tasks.map((t) => t.id)).toEqual(["t1"]);
    expect(page.nextPageToken).toBe("next");
    expect(calls[0]?.request).toEqual({
      namespace: "",
      state: "SUCCEEDED",
      type: "echo",
      pageSize: 2,
      pageToken: "",
    });
    expect((await client.list({ pageToken: "next" })).nextPageToken).toBe("");
  });

  it("reads a task with its payload, result and last error parsed", async () => {
    const read = await client.get("t1");
    expect(read).toMatchObject({
      id: "t1",
      state: "SUCCEEDED",
      payload: { a: 1 },
      result: { ok: true },
      attempt: 2,
      workerId: "w-1",
    });
    expect(read.lastError).toEqual({ message: "flaky", type: "Error", nonRetryable: false });
    expect(read).not.toHaveProperty("payloadJson");
  });

  it("cancels and reads history", async () => {
    expect(await client.cancel("t1", "no longer needed")).toMatchObject({
      cancelRequested: true,
      result: null,
    });
    expect(await client.history("t1")).toEqual([
      {
        version: 1,
        type: "TaskSubmitted",
        at: "2025-01-01T00:00:00.000Z",
        data: { type: "echo" },
        actor: "k:abc",
      },
    ]);
  });

  it("surfaces gRPC errors with their code and details", async () => {
    const error = await client.get("nope").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TaskstreamError);
    expect(error).toMatchObject({
      code: status.NOT_FOUND,
      status: "NOT_FOUND",
      details: "task nope not found",
    });
  });

  it("passes the active trace context as traceparent metadata", async () => {
    const spanContext = {
      traceId: "0af7651916cd43dd8448eb211c80319c",
      spanId: "b7ad6b7169203331",
      traceFlags: TraceFlags.SAMPLED,
    };
    await context.with(trace.setSpanContext(ROOT_CONTEXT, spanContext), () =>
      client.submit({ type: "echo" }),
    );
    expect(calls[0]?.metadata.get("traceparent")).toEqual([
      "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    ]);
  });

  it("coalesces concurrent submissions into SubmitTasks calls, answering each caller its own task", async () => {
    calls.length = 0;
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) => client.submit({ type: "own", payload: i })),
    );
    expect(results.map((r) => r.id)).toEqual(Array.from({ length: 50 }, (_, i) => `own:${i}`));
    expect(calls.length).toBeLessThan(50);
    expect(calls.some((c) => c.method === "submitTasks")).toBe(true);
  });

  it("sends every task of a batch refused as invalid alone, so only the invalid one fails", async () => {
    calls.length = 0;
    const results = await Promise.allSettled([
      client.submit({ type: "own", payload: 1 }),
      client.submit({ type: "own", payload: 2 }),
      client.submit({ type: "own", payload: 3 }),
      client.submit({ type: "bad" }),
    ]);
    expect(results.slice(0, 3).map((r) => r.status === "fulfilled" && r.value.id)).toEqual([
      "own:1",
      "own:2",
      "own:3",
    ]);
    expect(results[3]).toMatchObject({ status: "rejected" });
    expect((results[3] as PromiseRejectedResult).reason).toBeInstanceOf(TaskstreamError);
    expect(calls.filter((c) => c.method === "submitTasks").length).toBeGreaterThan(0);
  });

  it("does not coalesce when told not to", async () => {
    calls.length = 0;
    const single = new TaskstreamClient({ address: clientAddress, coalesce: false });
    await Promise.all([single.submit({ type: "echo" }), single.submit({ type: "echo" })]);
    single.close();
    expect(calls.map((c) => c.method)).toEqual(["submitTask", "submitTask"]);
  });
});
