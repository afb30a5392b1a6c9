import { describe, expect, it } from "vitest";
import type { TaskEvent } from "./events.ts";
import { DEFAULT_RETRY, DEFAULT_TIMEOUTS, type TaskError, type TaskSpec } from "./spec.ts";
import { evolve, fold, initialState, isTerminal } from "./state.ts";

const T0 = 1_700_000_000_000;
const taskSpec: TaskSpec = {
  namespace: "default",
  type: "report.build",
  payload: { id: 7 },
  priority: 5,
  requires: {},
  idempotencyKey: "k-1",
  runAt: null,
  retry: DEFAULT_RETRY,
  timeouts: DEFAULT_TIMEOUTS,
  metadata: {},
  concurrency: null,
  traceparent: null,
  tracestate: null,
};
const boom: TaskError = { message: "boom", type: "Error", nonRetryable: false };

const submitted: TaskEvent = { type: "TaskSubmitted", data: { spec: taskSpec, submittedAt: T0 } };
const assigned = (attempt: number, at: number): TaskEvent => ({
  type: "TaskAssigned",
  data: { attempt, workerId: `w${attempt}`, assignedAt: at, deadlineAt: at + 300_000 },
});
const started = (attempt: number, at: number): TaskEvent => ({
  type: "TaskStarted",
  data: { attempt, workerId: `w${attempt}`, startedAt: at },
});

describe("initialState", () => {
  it("is a NEW task at version 0 with no attempt", () => {
    const state = initialState();
    expect(state).toMatchObject({
      state: "NEW",
      spec: null,
      attempt: 0,
      version: 0,
      cancelRequested: false,
    });
    expect(fold([])).toEqual(state);
    expect(isTerminal(state)).toBe(false);
  });
});

describe("evolve", () => {
  it("queues a submitted task, available at once or at its runAt", () => {
    expect(fold([submitted])).toMatchObject({ state: "QUEUED", availableAt: T0, createdAt: T0, version: 1 });
    const scheduled = evolve(initialState(), {
      type: "TaskSubmitted",
      data: { spec: { ...taskSpec, runAt: T0 + 60_000 }, submittedAt: T0 },
    });
    expect(scheduled.availableAt).toBe(T0 + 60_000);
  });

  it("does not mutate the state it is given", () => {
    const before = fold([submitted]);
    const copy = structuredClone(before);
    evolve(before, assigned(1, T0 + 1));
    expect(before).toEqual(copy);
  });

  it("folds a lifecycle with a retry into a succeeded task", () => {
    const history: TaskEvent[] = [
      submitted,
      assigned(1, T0 + 10),
      started(1, T0 + 20),
      { type: "TaskProgressRecorded", data: { attempt: 1, details: { pct: 10 }, at: T0 + 30 } },
      {
        type: "TaskAttemptFailed",
        data: { attempt: 1, error: boom, failedAt: T0 + 40, retryAt: T0 + 1_040 },
      },
    ];

    const waiting = fold(history);
    expect(waiting).toMatchObject({
      state: "QUEUED",
      attempt: 1,
      workerId: null,
      availableAt: T0 + 1_040,
      deadlineAt: null,
      lastError: boom,
      lastDetails: { pct: 10 },
      updatedAt: T0 + 40,
      version: 5,
    });
    expect(isTerminal(waiting)).toBe(false);

    history.push(assigned(2, T0 + 1_100));
    expect(fold(history)).toMatchObject({
      state: "ASSIGNED",
      attempt: 2,
      workerId: "w2",
      availableAt: null,
      deadlineAt: T0 + 301_100,
      version: 6,
    });

    history.push(started(2, T0 + 1_200), {
      type: "TaskResultRejected",
      data: { attempt: 1, currentAttempt: 2, reason: "STALE_ATTEMPT", at: T0 + 1_250 },
    });
    const beforeSuccess = fold(history);
    expect(beforeSuccess).toMatchObject({ state: "RUNNING", attempt: 2, version: 8, updatedAt: T0 + 1_200 });

    history.push({
      type: "TaskSucceeded",
      data: { attempt: 2, result: { rows: 3 }, completedAt: T0 + 1_300 },
    });
    const done = fold(history);
    expect(done).toMatchObject({
      state: "SUCCEEDED",
      attempt: 2,
      result: { rows: 3 },
      deadlineAt: null,
      createdAt: T0,
      updatedAt: T0 + 1_300,
      version: 9,
    });
    expect(done.version).toBe(history.length);
    expect(isTerminal(done)).toBe(true);
  });

  it("folds an exhausted task into a dead-lettered one", () => {
    const state = fold([
      submitted,
      assigned(1, T0 + 10),
      { type: "TaskAttemptFailed", data: { attempt: 1, error: boom, failedAt: T0 + 20, retryAt: null } },
      {
        type: "TaskDeadLettered",
        data: { attempt: 1, reason: "MAX_ATTEMPTS_EXHAUSTED", lastError: boom, at: T0 + 20 },
      },
    ]);
    expect(state).toMatchObject({
      state: "DEAD_LETTERED",
      deadLetterReason: "MAX_ATTEMPTS_EXHAUSTED",
      lastError: boom,
      availableAt: null,
      deadlineAt: null,
      version: 4,
    });
    expect(isTerminal(state)).toBe(true);
  });

  it("marks a requested cancel, then folds the cancel into a cancelled task", () => {
    const requested = fold([
      submitted,
      assigned(1, T0 + 10),
      started(1, T0 + 20),
      { type: "TaskCancelRequested", data: { reason: "user", at: T0 + 30 } },
    ]);
    expect(requested).toMatchObject({ state: "RUNNING", cancelRequested: true, version: 4 });

    const state = [
      { type: "TaskAttemptFailed", data: { attempt: 1, error: boom, failedAt: T0 + 40, retryAt: null } },
      { type: "TaskCancelled", data: { reason: "user", at: T0 + 40 } },
    ].reduce((s, e) => evolve(s, e as TaskEvent), requested);
    expect(state).toMatchObject({ state: "CANCELLED", availableAt: null, deadlineAt: null, version: 6 });
    expect(isTerminal(state)).toBe(true);
  });

  it("counts recorded events like plain ones", () => {
    const recorded = [submitted, assigned(1, T0 + 1)].map((e, i) => ({
      ...e,
      taskId: "t-1",
      version: i + 1,
    }));
    expect(fold(recorded).version).toBe(2);
  });
});
