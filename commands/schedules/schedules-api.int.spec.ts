import { ANONYMOUS } from "../../auth/principal.ts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import Fastify, { type FastifyInstance } from "fastify";
import { credentials, Metadata, Server, ServerCredentials, status, type ServiceError } from "@grpc/grpc-js";
import { deleteKeys, type RedisClient } from "../../event-store/redis-client.ts";
import { RedisEventLog } from "../../event-store/redis-event-log.ts";
import { httpErrorHandler } from "../http/errors.ts";
import { TaskCommands } from "../task-commands.ts";
import {
  ScheduleServiceClient,
  ScheduleServiceService,
  type Schedule,
} from "../../proto/gen/taskstream/v1/schedules.ts";
import type { TaskSpec } from "../../proto/gen/taskstream/v1/tasks.ts";
import { uniquePrefix, connectTestRedis } from "../../tests/support/services.ts";
import { scheduleService } from "./grpc-service.ts";
import { scheduleRoutes } from "./routes.ts";
import { ScheduleCommands } from "./schedule-commands.ts";
import { SCHEDULE_PARTITION, scheduleStore, type ScheduleStore } from "../../event-store/schedule-store.ts";

describe("schedules over REST and gRPC", () => {
  const prefix = uniquePrefix("sched-api");
  let redis: RedisClient;
  let store: ScheduleStore;
  let http: FastifyInstance;
  let grpcServer: Server;
  let grpc: ScheduleServiceClient;

  const rest = (method: "GET" | "POST" | "DELETE", url: string, body?: object) =>
    http.inject({ method, url, ...(body ? { payload: body } : {}) });
  const call = <Req, Res>(name: keyof ScheduleServiceClient, request: Req) =>
    new Promise<Res>((resolve, reject) =>
      (
        grpc[name] as unknown as (r: Req, m: Metadata, cb: (e: ServiceError | null, res: Res) => void) => void
      ).call(grpc, request, new Metadata(), (error, response) => (error ? reject(error) : resolve(response))),
    );
  const fieldErrors = (error: ServiceError) =>
    (JSON.parse(String(error.metadata.get("field-errors")[0])) as { field: string }[]).map((f) => f.field);
  /** Everything in the schedule stream: proves a rejected request wrote nothing. */
  const logLength = async () => (await store.readPartition(SCHEDULE_PARTITION, "0", 100_000)).length;
  const taskSpec = (overrides: Partial<TaskSpec> = {}): TaskSpec => ({
    namespace: "",
    type: "report",
    payloadJson: '{"scope":"daily"}',
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
    redis = connectTestRedis();
    const tasks = new TaskCommands(new RedisEventLog(redis, { partitions: 4, prefix }), {
      maxPayloadBytes: 1024,
    });
    store = scheduleStore(redis, prefix);
    const commands = new ScheduleCommands(store, tasks);
    http = Fastify();
    http.setErrorHandler(httpErrorHandler);
    await http.register(scheduleRoutes(commands));
    grpcServer = new Server();
    grpcServer.addService(
      ScheduleServiceService,
      scheduleService(commands, async () => ANONYMOUS),
    );
    const port = await new Promise<number>((resolve, reject) =>
      grpcServer.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (e, p) =>
        e ? reject(e) : resolve(p),
      ),
    );
    grpc = new ScheduleServiceClient(`127.0.0.1:${port}`, credentials.createInsecure());
  });
  afterAll(async () => {
    grpc.close();
    grpcServer.forceShutdown();
    await http.close();
    await deleteKeys(redis, `${prefix}:*`);
    redis.disconnect();
  });

  it("REST: create (201), read, list, pause, resume, delete; every change is an event in the history", async () => {
    const created = await rest("POST", "/v1/schedules", {
      cron: "0 9 * * MON-FRI",
      timeZone: "Europe/Berlin",
      catchUp: "ALL",
      task: { type: "report", payload: { scope: "daily" }, priority: 7 },
    });
    expect(created.statusCode).toBe(201);
    const schedule = created.json<{ id: string; nextFireAt: string }>();
    expect(schedule).toMatchObject({
      status: "ACTIVE",
      cron: "0 9 * * MON-FRI",
      timeZone: "Europe/Berlin",
      catchUp: "ALL",
      task: { type: "report", payload: { scope: "daily" }, priority: 7 },
      lastFiredAt: null,
      firings: 0,
      version: 1,
    });
    expect(Date.parse(schedule.nextFireAt)).toBeGreaterThan(Date.now());
    const id = schedule.id;
    expect((await rest("GET", `/v1/schedules/${id}`)).json()).toEqual(schedule);

    expect((await rest("POST", `/v1/schedules/${id}/pause`)).json()).toMatchObject({
      status: "PAUSED",
      nextFireAt: null,
    });
    expect(
      (await rest("GET", "/v1/schedules?status=PAUSED"))
        .json<{ schedules: { id: string }[] }>()
        .schedules.map((s) => s.id),
    ).toContain(id);
    expect((await rest("POST", `/v1/schedules/${id}/resume`)).json()).toMatchObject({
      status: "ACTIVE",
      version: 3,
    });
    expect((await rest("DELETE", `/v1/schedules/${id}`)).json()).toMatchObject({
      status: "DELETED",
      nextFireAt: null,
    });
    expect((await rest("DELETE", `/v1/schedules/${id}`)).statusCode).toBe(200); // changes nothing
    const listed = (await rest("GET", "/v1/schedules")).json<{ schedules: { id: string }[] }>();
    expect(listed.schedules.map((s) => s.id)).not.toContain(id); // deleted ones only by status=DELETED
    const history = (await rest("GET", `/v1/schedules/${id}/history`)).json<{ events: { type: string }[] }>();
    expect(history.events.map((e) => e.type)).toEqual([
      "ScheduleCreated",
      "SchedulePaused",
      "ScheduleResumed",
      "ScheduleDeleted",
    ]);
  });

  it("REST: bad cron, bad time zone and bad template fields answer 400 naming each field, and write nothing", async () => {
    const before = await logLength();
    const bad = await rest("POST", "/v1/schedules", {
      cron: "every tuesday",
      timeZone: "Mars/Olympus",
      task: { type: "report", priority: 12, idempotencyKey: "mine" },
    });
    expect(bad.statusCode).toBe(400);
    const fields = bad.json<{ error: { code: string; fields: { field: string }[] } }>().error;
    expect(fields.code).toBe("VALIDATION");
    expect(fields.fields.map((f) => f.field).sort()).toEqual([
      "cron",
      "task.idempotencyKey",
      "task.priority",
      "timeZone",
    ]);
    const unknownField = await rest("POST", "/v1/schedules", {
      cron: "* * * * *",
      task: { type: "x" },
      every: 5,
    });
    expect(unknownField.statusCode).toBe(400);
    expect(unknownField.json<{ error: { fields: { field: string }[] } }>().error.fields[0]?.field).toBe(
      "every",
    );
    const tooLarge = await rest("POST", "/v1/schedules", {
      cron: "* * * * *",
      task: { type: "x", payload: "y".repeat(2000) },
    });
    expect(tooLarge.statusCode).toBe(413);
    expect((await rest("GET", "/v1/schedules?limit=0")).statusCode).toBe(400);
    expect(await logLength()).toBe(before);
  });

  it("REST: unknown ids are 404; resuming a deleted schedule is 409 and changes nothing", async () => {
    expect((await rest("GET", "/v1/schedules/no-such-schedule")).statusCode).toBe(404);
    expect((await rest("POST", "/v1/schedules/no-such-schedule/pause")).statusCode).toBe(404);
    expect((await rest("DELETE", "/v1/schedules/no-such-schedule")).statusCode).toBe(404);
    const { id } = (await rest("POST", "/v1/schedules", { cron: "@daily", task: { type: "x" } })).json<{
      id: string;
    }>();
    await rest("DELETE", `/v1/schedules/${id}`);
    const before = await logLength();
    const resumed = await rest("POST", `/v1/schedules/${id}/resume`);
    expect(resumed.statusCode).toBe(409);
    expect(resumed.json<{ error: { code: string } }>().error.code).toBe("ILLEGAL_STATE");
    expect((await rest("POST", `/v1/schedules/${id}/pause`)).statusCode).toBe(409);
    expect(await logLength()).toBe(before);
  });

  it("gRPC: create, get, list, pause, resume and delete, with the template as a TaskSpec", async () => {
    const created = await call<unknown, Schedule>("createSchedule", {
      cron: "*/5 * * * *",
      timeZone: "America/New_York",
      catchUp: "",
      task: taskSpec({ priority: 3, metadata: { team: "bi" } }),
    });
    expect(created).toMatchObject({
      status: "ACTIVE",
      catchUp: "LATEST",
      timeZone: "America/New_York",
      version: 1,
    });
    expect(created.task).toMatchObject({
      type: "report",
      payloadJson: '{"scope":"daily"}',
      priority: 3,
      metadata: { team: "bi" },
    });
    expect(await call<unknown, Schedule>("getSchedule", { id: created.id })).toEqual(created);
    const listed = await call<unknown, { schedules: Schedule[] }>("listSchedules", {
      status: "ACTIVE",
      limit: 0,
      after: "",
    });
    expect(listed.schedules.map((s) => s.id)).toContain(created.id);
    expect(await call<unknown, Schedule>("pauseSchedule", { id: created.id })).toMatchObject({
      status: "PAUSED",
      nextFireAt: "",
    });
    expect(await call<unknown, Schedule>("resumeSchedule", { id: created.id })).toMatchObject({
      status: "ACTIVE",
    });
    expect(await call<unknown, Schedule>("deleteSchedule", { id: created.id })).toMatchObject({
      status: "DELETED",
    });
  });

  it("gRPC: INVALID_ARGUMENT names the fields; NOT_FOUND; FAILED_PRECONDITION; nothing written", async () => {
    const before = await logLength();
    const invalid = await call("createSchedule", {
      cron: "99 * * * *",
      timeZone: "Nowhere/City",
      catchUp: "SOMETIMES",
      task: taskSpec({ runAt: "2030-01-01T00:00:00Z" }),
    }).catch((e: ServiceError) => e);
    expect((invalid as ServiceError).code).toBe(status.INVALID_ARGUMENT);
    expect(fieldErrors(invalid as ServiceError).sort()).toEqual([
      "catchUp",
      "cron",
      "task.runAt",
      "timeZone",
    ]);
    const noTask = await call("createSchedule", { cron: "* * * * *", timeZone: "", catchUp: "" }).catch(
      (e: ServiceError) => e,
    );
    expect(fieldErrors(noTask as ServiceError)).toEqual(["task"]);
    expect(((await call("getSchedule", { id: "nope" }).catch((e: unknown) => e)) as ServiceError).code).toBe(
      status.NOT_FOUND,
    );
    expect(await logLength()).toBe(before);

    const created = await call<unknown, Schedule>("createSchedule", {
      cron: "@hourly",
      timeZone: "",
      catchUp: "",
      task: taskSpec(),
    });
    await call("deleteSchedule", { id: created.id });
    const resumed = await call("resumeSchedule", { id: created.id }).catch((e: unknown) => e);
    expect((resumed as ServiceError).code).toBe(status.FAILED_PRECONDITION);
  });
});
