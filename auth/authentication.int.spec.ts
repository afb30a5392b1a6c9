import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { credentials, Metadata, status } from "@grpc/grpc-js";
import { TaskServiceClient, TaskSpec } from "../proto/gen/taskstream/v1/tasks.ts";
import { LimitsServiceClient } from "../proto/gen/taskstream/v1/limits.ts";
import { ScheduleServiceClient } from "../proto/gen/taskstream/v1/schedules.ts";
import type { RunningServer } from "../cli/server.ts";
import { eventually, startTestServer } from "../tests/support/server.ts";
import { RawWorker } from "../tests/support/raw-worker.ts";
import { DiscoveryClient } from "../tests/support/grpc-reflection-client.ts";
import { openWs } from "../tests/support/ws-client.ts";
import type { Scope } from "./principal.ts";
import { RegistrationError, Worker } from "../sdk/typescript/src/index.ts";

/** The log's length over every partition: a refused request must leave it unchanged. */
async function logLength(server: RunningServer): Promise<number> {
  let total = 0;
  for (let p = 0; p < server.store.partitions; p++)
    total += (await server.store.readPartition(p, "0", 100_000)).length;
  return total;
}

function unary<Req, Res>(
  call: (
    request: Req,
    metadata: Metadata,
    callback: (error: { code?: number; details?: string } | null, response: Res) => void,
  ) => unknown,
  request: Req,
  key?: string,
): Promise<{ code: number; details: string; response?: Res }> {
  const metadata = new Metadata();
  if (key) metadata.set("authorization", `Bearer ${key}`);
  return new Promise((resolve) =>
    call(request, metadata, (error, response) =>
      resolve(
        error
          ? { code: error.code ?? -1, details: error.details ?? "" }
          : { code: status.OK, details: "", response },
      ),
    ),
  );
}

describe("authentication and scopes on every interface (TASKSTREAM_AUTH=required)", () => {
  let server: RunningServer;
  let http: string;
  let tasks: TaskServiceClient;
  let limits: LimitsServiceClient;
  let schedules: ScheduleServiceClient;
  const keys: Record<string, string> = {};
  const make = async (
    name: string,
    scopes: Scope[],
    extra: { namespaces?: string[]; taskTypes?: string[] } = {},
  ) =>
    (keys[name] = (
      await server.keys.create({
        name,
        namespaces: extra.namespaces ?? ["*"],
        scopes,
        taskTypes: extra.taskTypes ?? null,
      })
    ).key);

  beforeAll(async () => {
    server = await startTestServer({ auth: "required" }, "auth");
    http = server.httpUrl;
    tasks = new TaskServiceClient(server.grpcAddress, credentials.createInsecure());
    limits = new LimitsServiceClient(server.grpcAddress, credentials.createInsecure());
    schedules = new ScheduleServiceClient(server.grpcAddress, credentials.createInsecure());
    await make("all", ["submit", "read", "cancel", "admin", "worker"]);
    await make("reader", ["read"]);
    await make("submitter", ["submit"]);
    await make("worker", ["worker"], { taskTypes: ["allowed"] });
    await make("worker2", ["worker"]);
    await eventually(() => (server.dispatcher!.leading ? true : undefined), 15_000, "leadership");
  });
  afterAll(async () => {
    tasks?.close();
    limits?.close();
    schedules?.close();
    await server?.close();
  });

  const rest = (method: string, path: string, key?: string, body?: unknown) =>
    fetch(`${http}${path}`, {
      method,
      headers: {
        ...(body !== undefined || method !== "GET" ? { "content-type": "application/json" } : {}),
        ...(key ? { authorization: `Bearer ${key}` } : {}),
      },
      body: body === undefined ? (method === "GET" ? undefined : "{}") : JSON.stringify(body),
    });

  it("REST: 401 without a valid key, 403 without the scope, nothing written", async () => {
    const before = await logLength(server);
    const none = await rest("POST", "/v1/tasks", undefined, { type: "echo" });
    expect(none.status).toBe(401);
    expect(none.headers.get("www-authenticate")).toMatch(/^Bearer/);
    expect(((await none.json()) as { error: { code: string } }).error.code).toBe("UNAUTHENTICATED");
    expect(
      (await rest("POST", "/v1/tasks", "tsk_aaaaaaaaaaaa_" + "a".repeat(43), { type: "echo" })).status,
    ).toBe(401);
    expect((await rest("POST", "/v1/tasks", "not-a-key", { type: "echo" })).status).toBe(401);
    const denied = await rest("POST", "/v1/tasks", keys.reader, { type: "echo" });
    expect(denied.status).toBe(403);
    const refusal = ((await denied.json()) as { error: { code: string; message: string } }).error;
    expect(refusal.code).toBe("PERMISSION_DENIED");
    expect(refusal.message).toContain('"submit" scope');
    expect((await rest("PUT", "/v1/queues/echo", keys.submitter, { ratePerSecond: 1 })).status).toBe(403);
    expect(await logLength(server)).toBe(before);

    const created = await rest("POST", "/v1/tasks", keys.submitter, { type: "echo" });
    expect(created.status).toBe(201);
    const { id } = (await created.json()) as { id: string };
    expect((await rest("GET", `/v1/tasks/${id}`, keys.submitter)).status).toBe(403);
    expect((await rest("GET", `/v1/tasks/${id}`, keys.reader)).status).toBe(200);
    expect((await rest("POST", `/v1/tasks/${id}/cancel`, keys.reader)).status).toBe(403);
    expect((await rest("GET", "/healthz")).status).toBe(200);
    expect((await rest("GET", "/metrics")).status).toBe(401);
    expect((await rest("GET", "/metrics", keys.reader)).status).toBe(403);
    expect((await rest("GET", "/metrics", keys.all)).status).toBe(200);
  });

  it("discovery: the OpenAPI document, /docs and gRPC health are public; reflection needs a key", async () => {
    const document = await rest("GET", "/openapi.json");
    expect(document.status).toBe(200);
    expect(Object.keys(((await document.json()) as { paths: object }).paths)).toContain("/v1/tasks");
    expect((await rest("GET", "/docs")).status).toBeLessThan(400);
    expect((await rest("GET", "/docs/")).status).toBe(200);
    // The page is public, the API it documents is not.
    expect((await rest("GET", "/v1/queues")).status).toBe(401);

    const anonymous = new DiscoveryClient(server.grpcAddress);
    const wrong = new DiscoveryClient(server.grpcAddress, "tsk_nope");
    const keyed = new DiscoveryClient(server.grpcAddress, keys.reader);
    try {
      expect(await anonymous.check("")).not.toMatch(/^error/);
      expect(await anonymous.check("taskstream.v1.TaskService")).toBe("SERVING");
      await expect(anonymous.listServices()).rejects.toMatchObject({ code: status.UNAUTHENTICATED });
      await expect(wrong.listServices()).rejects.toMatchObject({ code: status.UNAUTHENTICATED });
      await expect(anonymous.describe("taskstream.v1.TaskService")).rejects.toMatchObject({
        code: status.UNAUTHENTICATED,
      });
      // Any valid key, whatever its scopes.
      expect(await keyed.listServices()).toContain("taskstream.v1.TaskService");
      const registry = await keyed.describe("taskstream.v1.TaskService");
      expect(registry.getService("taskstream.v1.TaskService")?.methods.map((m) => m.name)).toContain(
        "SubmitTask",
      );
    } finally {
      anonymous.close();
      wrong.close();
      keyed.close();
    }
  });

  it("a revoked key stops working", async () => {
    const { record, key } = await server.keys.create({ namespaces: ["*"], scopes: ["read"] });
    await server.keys.revoke(record.id);
    const answer = await rest("GET", "/v1/queues", key);
    expect(answer.status).toBe(401);
    expect(((await answer.json()) as { error: { message: string } }).error.message).toMatch(/revoked/);
  });

  it("GraphQL over HTTP: 401 without a key, PERMISSION_DENIED without read", async () => {
    const query = (key?: string) =>
      rest("POST", "/graphql", key, { query: "{ stats { total } }" }).then(async (r) => ({
        status: r.status,
        body: (await r.json()) as { data?: unknown; errors?: { extensions?: { code?: string } }[] },
      }));
    expect((await query()).status).toBe(401);
    const denied = await query(keys.submitter);
    expect(denied.status).toBe(403);
    expect(denied.body.errors?.[0]?.extensions?.code).toBe("PERMISSION_DENIED");
    expect(denied.body.data ?? null).toBeNull();
    expect((await query(keys.reader)).body.errors).toBeUndefined();
    const mutation = await rest("POST", "/graphql", keys.reader, {
      query: 'mutation { cancelTask(id: "0190a0a0-0000-7000-8000-000000000000") { id } }',
    });
    const body = (await mutation.json()) as { errors?: { extensions?: { code?: string } }[] };
    expect(body.errors?.[0]?.extensions?.code).toBe("PERMISSION_DENIED");
  });

  it("GraphQL subscriptions: the key is checked at connection_init (or on the upgrade)", async () => {
    const url = `${http.replace("http", "ws")}/graphql`;
    const subscribe = {
      id: "1",
      type: "subscribe",
      payload: { query: "subscription { tasksUpdated { id } }" },
    };
    // No key at all: the connection opens, every subscription is refused UNAUTHENTICATED.
    const anonymous = await openWs(url);
    expect(await anonymous.next((m) => m.type === "connection_ack")).toBeDefined();
    anonymous.send(subscribe);
    const refused = await anonymous.next((m) => m.type === "error");
    expect(JSON.stringify(refused?.payload)).toContain("UNAUTHENTICATED");
    anonymous.close();
    // A wrong key, or one without read, in connection_init: refused and closed.
    for (const key of ["tsk_bogus", keys.submitter!]) {
      const wrong = await openWs(url, { authorization: `Bearer ${key}` });
      expect(await wrong.next((m) => m.type === "connection_ack", 1000)).toBeUndefined();
      expect(await wrong.closed()).toBeDefined();
    }
    // A wrong key on the upgrade itself: 401 before any WebSocket.
    await expect(openWs(url, undefined, { authorization: "Bearer tsk_bogus" })).rejects.toThrow(/401/);
    const good = await openWs(url, { authorization: `Bearer ${keys.reader}` });
    expect(await good.next((m) => m.type === "connection_ack")).toBeDefined();
    good.send(subscribe);
    expect(await good.next((m) => m.type === "error", 500)).toBeUndefined();
    good.close();
  });

  it("gRPC TaskService, LimitsService, ScheduleService: UNAUTHENTICATED, PERMISSION_DENIED", async () => {
    const before = await logLength(server);
    const submit = (key?: string) =>
      unary(tasks.submitTask.bind(tasks), { task: TaskSpec.fromPartial({ type: "echo" }) }, key);
    expect((await submit()).code).toBe(status.UNAUTHENTICATED);
    expect((await submit("tsk_nope")).code).toBe(status.UNAUTHENTICATED);
    expect((await submit(keys.reader)).code).toBe(status.PERMISSION_DENIED);
    expect(await logLength(server)).toBe(before);
    expect((await submit(keys.submitter)).code).toBe(status.OK);
    expect(
      (
        await unary(
          tasks.listTasks.bind(tasks),
          { namespace: "", state: "", type: "", pageSize: 1, pageToken: "" },
          keys.submitter,
        )
      ).code,
    ).toBe(status.PERMISSION_DENIED);
    const setLimits = (key?: string) =>
      unary(
        limits.setQueueLimits.bind(limits),
        { type: "echo", ratePerSecond: 1, burst: 1, maxBacklog: 0 },
        key,
      );
    expect((await setLimits()).code).toBe(status.UNAUTHENTICATED);
    expect((await setLimits(keys.reader)).code).toBe(status.PERMISSION_DENIED);
    expect((await setLimits(keys.all)).code).toBe(status.OK);
    const list = (key?: string) =>
      unary(schedules.listSchedules.bind(schedules), { status: "", limit: 0, after: "" }, key);
    expect((await list()).code).toBe(status.UNAUTHENTICATED);
    expect((await list(keys.submitter)).code).toBe(status.PERMISSION_DENIED);
    expect((await list(keys.reader)).code).toBe(status.OK);
  });

  it("worker stream: UNAUTHENTICATED, PERMISSION_DENIED without the worker scope or for other task types", async () => {
    const attempt = async (key: string | undefined, types: string[]) => {
      const worker = new RawWorker(server.grpcAddress, key);
      try {
        worker.send({
          $case: "register",
          value: {
            workerId: "",
            resumeToken: "",
            name: "w",
            types,
            labels: {},
            slots: 1,
            sdk: "test",
            active: [],
            acceptsBatches: false,
          },
        });
        return await worker.closed(5000).catch(() => ({ code: status.OK, details: "open" }));
      } finally {
        worker.close();
      }
    };
    expect((await attempt(undefined, ["allowed"])).code).toBe(status.UNAUTHENTICATED);
    expect((await attempt("tsk_nope", ["allowed"])).code).toBe(status.UNAUTHENTICATED);
    const noScope = await attempt(keys.submitter, ["allowed"]);
    expect(noScope.code).toBe(status.PERMISSION_DENIED);
    expect(noScope.details).toContain('"worker" scope');
    const otherType = await attempt(keys.worker, ["allowed", "forbidden"]);
    expect(otherType.code).toBe(status.PERMISSION_DENIED);
    expect(otherType.details).toContain('"forbidden"');
  });

  it("the SDK's worker stops at a refusal instead of reconnecting in a loop", async () => {
    for (const [apiKey, code] of [
      [undefined, status.UNAUTHENTICATED],
      [keys.submitter, status.PERMISSION_DENIED],
    ] as const) {
      const worker = new Worker({
        addresses: [server.grpcAddress],
        ...(apiKey ? { apiKey } : {}),
        handlers: { allowed: async () => null },
        logger: { debug() {}, info() {}, warn() {}, error() {} },
      });
      let disconnects = 0;
      worker.on("disconnected", () => disconnects++);
      const refusal = await worker.start().then(
        () => null,
        (error: unknown) => error,
      );
      expect(refusal).toBeInstanceOf(RegistrationError);
      expect((refusal as RegistrationError).code).toBe(code);
      expect(disconnects).toBe(1);
      await worker.stop();
    }
  });

  it("a worker identity is bound to the key that registered it", async () => {
    const first = new RawWorker(server.grpcAddress, keys.worker);
    const workerId = await first.register(["allowed"]);
    const token = first.resumeToken;
    first.close();
    const thief = new RawWorker(server.grpcAddress, keys.worker2);
    try {
      thief.send({
        $case: "register",
        value: {
          workerId,
          resumeToken: token,
          name: "thief",
          types: ["allowed"],
          labels: {},
          slots: 1,
          sdk: "test",
          active: [],
          acceptsBatches: false,
        },
      });
      expect(await thief.closed()).toMatchObject({ code: status.PERMISSION_DENIED });
    } finally {
      thief.close();
    }
    const owner = new RawWorker(server.grpcAddress, keys.worker);
    try {
      expect(await owner.register(["allowed"], { workerId, resumeToken: token })).toBe(workerId);
    } finally {
      owner.close();
    }
  });
});
