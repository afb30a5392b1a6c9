import { describe, expect, it } from "vitest";
import { DeciderSpec } from "../testing/decider-spec.ts";
import { IllegalStateError, NotFoundError, ValidationError } from "../task/errors.ts";
import type { ScheduleCommand } from "./commands.ts";
import { decide } from "./decide.ts";
import type { ScheduleDefinition, ScheduleEvent } from "./events.ts";
import { evolve, fold, initialState, nextFireAt, type ScheduleState } from "./state.ts";

const spec = DeciderSpec.for<ScheduleCommand, ScheduleEvent, ScheduleState>({ decide, evolve, initialState });

const T0 = Date.parse("2030-01-01T00:00:00.000Z");
const MIN = 60_000;
/** Every minute, on the minute. */
const definition: ScheduleDefinition = {
  cron: "* * * * *",
  timeZone: "Europe/Berlin",
  task: { type: "report.build", payload: { scope: "daily" }, priority: 7 },
  catchUp: "LATEST",
};

// Events
const created: ScheduleEvent = { type: "ScheduleCreated", data: { ...definition, createdAt: T0 } };
const paused = (at = T0 + 10): ScheduleEvent => ({ type: "SchedulePaused", data: { at } });
const resumed = (at: number): ScheduleEvent => ({ type: "ScheduleResumed", data: { at } });
const deleted: ScheduleEvent = { type: "ScheduleDeleted", data: { at: T0 + 20 } };
const fired = (fireAt: number, taskId = `task-${fireAt}`, at = fireAt + 5): ScheduleEvent => ({
  type: "ScheduleFired",
  data: { fireAt, taskId, error: null, at },
});

// Commands
const create = (overrides: Partial<ScheduleDefinition> = {}): ScheduleCommand => ({
  type: "CreateSchedule",
  data: { ...definition, ...overrides, now: T0 },
});
const pause: ScheduleCommand = { type: "PauseSchedule", data: { now: T0 + 10 } };
const resume = (now = T0 + 30): ScheduleCommand => ({ type: "ResumeSchedule", data: { now } });
const remove: ScheduleCommand = { type: "DeleteSchedule", data: { now: T0 + 20 } };
const record = (
  fireAt: number,
  now = fireAt + 5,
  taskId: string | null = `task-${fireAt}`,
): ScheduleCommand => ({
  type: "RecordFiring",
  data: { fireAt, taskId, error: null, now },
});
const catchUp = (now: number): ScheduleCommand => ({ type: "ApplyCatchUp", data: { now } });

const fieldsOf = (error: ValidationError) => error.fields.map((f) => f.field).sort();

describe("schedule decider: lifecycle", () => {
  it("creates an ACTIVE schedule that first fires at the next fire time after its creation", () => {
    spec.given([]).when(create()).then([created]);
    const state = fold([created]);
    expect(state).toMatchObject({ status: "ACTIVE", cursor: T0, lastFiredAt: null, version: 1 });
    expect(nextFireAt(state)).toBe(T0 + MIN);
  });

  it("refuses a bad cron expression, an unknown time zone and per-firing template fields, naming each", () => {
    spec
      .given([])
      .when(create({ cron: "61 * * * *", timeZone: "Mars/Olympus" }))
      .thenThrows(ValidationError, (e) => fieldsOf(e).join() === "cron,timeZone");
    spec
      .given([])
      .when(create({ task: { type: "x", idempotencyKey: "k", runAt: "2030-01-01T00:00:00Z" } }))
      .thenThrows(ValidationError, (e) => fieldsOf(e).join() === "task.idempotencyKey,task.runAt");
    spec
      .given([])
      .when(create({ catchUp: "SOMETIMES" as "ALL" }))
      .thenThrows(ValidationError, (e) => fieldsOf(e).join() === "catchUp");
    spec
      .given([])
      .when(create({ cron: "0 0 31 2 *" }))
      .thenThrows(ValidationError, (e) => e.fields[0]?.field === "cron");
    spec
      .given([])
      .when(create({ cron: "H * * * *" }))
      .thenThrows(ValidationError, (e) => /hashed/.test(e.message));
  });

  it("pauses, resumes and deletes; repeating a command changes nothing", () => {
    spec.given([created]).when(pause).then([paused()]);
    spec.given([created, paused()]).when(pause).thenNothing();
    spec
      .given([created, paused()])
      .when(resume())
      .then([resumed(T0 + 30)]);
    spec.given([created]).when(resume()).thenNothing();
    spec.given([created, paused()]).when(remove).then([deleted]);
    spec.given([created, deleted]).when(remove).thenNothing();
  });

  it("refuses illegal transitions: resume or pause a deleted schedule, create over an existing one", () => {
    spec.given([created, deleted]).when(resume()).thenThrows(IllegalStateError);
    spec.given([created, deleted]).when(pause).thenThrows(IllegalStateError);
    spec.given([created]).when(create()).thenThrows(IllegalStateError);
  });

  it("answers NotFound for any command on an unknown schedule", () => {
    for (const command of [pause, resume(), remove, record(T0 + MIN), catchUp(T0)]) {
      spec.given([]).when(command).thenThrows(NotFoundError);
    }
  });
});

describe("schedule decider: firings", () => {
  it("records the next fire time and moves the cursor past it", () => {
    spec
      .given([created])
      .when(record(T0 + MIN))
      .then([fired(T0 + MIN)]);
    const state = fold([created, fired(T0 + MIN)]);
    expect(state).toMatchObject({ lastFiredAt: T0 + MIN, lastTaskId: `task-${T0 + MIN}`, firings: 1 });
    expect(nextFireAt(state)).toBe(T0 + 2 * MIN);
  });

  it("ignores a firing recorded already (a deposed leader's retry) and refuses one out of order or early", () => {
    spec
      .given([created, fired(T0 + MIN)])
      .when(record(T0 + MIN))
      .thenNothing();
    spec
      .given([created])
      .when(record(T0 + 2 * MIN))
      .thenThrows(IllegalStateError, (e) => /out of order/.test(e.message));
    spec
      .given([created])
      .when(record(T0 + MIN, T0 + MIN - 1))
      .thenThrows(IllegalStateError);
    spec
      .given([created])
      .when(record(T0 + MIN + 1))
      .thenThrows(IllegalStateError);
  });

  it("records a firing whose submission failed, with the error, so it is not retried forever", () => {
    const command: ScheduleCommand = {
      type: "RecordFiring",
      data: { fireAt: T0 + MIN, taskId: null, error: "payload: too large", now: T0 + MIN + 5 },
    };
    spec
      .given([created])
      .when(command)
      .then([
        {
          type: "ScheduleFired",
          data: { fireAt: T0 + MIN, taskId: null, error: "payload: too large", at: T0 + MIN + 5 },
        },
      ]);
  });

  it("records a firing that was due before a concurrent pause, but nothing fires while paused", () => {
    spec
      .given([created, paused()])
      .when(record(T0 + MIN))
      .then([fired(T0 + MIN)]);
    spec
      .given([created, paused()])
      .when(catchUp(T0 + 10 * MIN))
      .thenNothing();
    expect(nextFireAt(fold([created, paused()]))).toBeNull();
  });

  it("resuming does not owe the firings that fell due while paused", () => {
    const state = fold([created, paused(), resumed(T0 + 10 * MIN + 30_000)]);
    expect(nextFireAt(state)).toBe(T0 + 11 * MIN);
    spec
      .given([created, paused(), resumed(T0 + 10 * MIN + 30_000)])
      .when(catchUp(T0 + 10 * MIN + 40_000))
      .thenNothing();
  });

  it("a deleted schedule never fires again", () => {
    expect(nextFireAt(fold([created, deleted]))).toBeNull();
    spec
      .given([created, deleted])
      .when(catchUp(T0 + 60 * MIN))
      .thenNothing();
  });
});

describe("schedule decider: catch-up after downtime", () => {
  const withPolicy = (catchUp: ScheduleDefinition["catchUp"]): ScheduleEvent => ({
    type: "ScheduleCreated",
    data: { ...definition, catchUp, createdAt: T0 },
  });
  const skipped = (first: number, last: number, count: number | null, policy: string, at: number) => ({
    type: "ScheduleFiringsSkipped",
    data: { first, last, count, policy, at },
  });

  it("LATEST records the missed firings but the newest as skipped", () => {
    const now = T0 + 5 * MIN + 10_000;
    spec
      .given([withPolicy("LATEST"), fired(T0 + MIN)])
      .when(catchUp(now))
      .then([skipped(T0 + 2 * MIN, T0 + 4 * MIN, 3, "LATEST", now) as ScheduleEvent]);
  });

  it("ALL skips nothing below the cap; NONE skips every late firing", () => {
    const now = T0 + 5 * MIN + 10_000;
    spec
      .given([withPolicy("ALL")])
      .when(catchUp(now))
      .thenNothing();
    spec
      .given([withPolicy("NONE")])
      .when(catchUp(now))
      .then([skipped(T0 + MIN, T0 + 5 * MIN, 5, "NONE", now) as ScheduleEvent]);
  });

  it("nothing is skipped when the one due firing is on time", () => {
    for (const policy of ["LATEST", "ALL", "NONE"] as const) {
      spec
        .given([withPolicy(policy)])
        .when(catchUp(T0 + MIN + 50))
        .thenNothing();
    }
  });
});
