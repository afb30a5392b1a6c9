import { DEFAULT_RETRY, DEFAULT_TIMEOUTS, type Json, type TaskEvent, type TaskSpec } from "../task/index.ts";

/**
 * The one set of builders for the task domain's events, for every test that needs a history:
 * pure data, no I/O. `at` is a Unix time in ms.
 */

/** A valid spec, with overrides. */
export function taskSpec(overrides: Partial<TaskSpec> = {}): TaskSpec {
  return {
    namespace: "default",
    type: "echo",
    payload: { hello: "world" },
    priority: 5,
    requires: {},
    idempotencyKey: null,
    runAt: null,
    retry: DEFAULT_RETRY,
    timeouts: DEFAULT_TIMEOUTS,
    metadata: {},
    concurrency: null,
    traceparent: null,
    tracestate: null,
    ...overrides,
  };
}

/** Event builders for the usual life of a task. */
export const taskEvents = {
  submitted: (at: number, spec: TaskSpec = taskSpec()): TaskEvent => ({
    type: "TaskSubmitted",
    data: { spec, submittedAt: at },
  }),
  assigned: (attempt: number, at: number, workerId = "worker-1"): TaskEvent => ({
    type: "TaskAssigned",
    data: { attempt, workerId, assignedAt: at, deadlineAt: at + 300_000 },
  }),
  started: (attempt: number, at: number, workerId = "worker-1"): TaskEvent => ({
    type: "TaskStarted",
    data: { attempt, workerId, startedAt: at },
  }),
  progress: (attempt: number, at: number, details: Json): TaskEvent => ({
    type: "TaskProgressRecorded",
    data: { attempt, details, at },
  }),
  succeeded: (attempt: number, at: number, result: Json): TaskEvent => ({
    type: "TaskSucceeded",
    data: { attempt, result, completedAt: at },
  }),
  failed: (attempt: number, at: number, retryAt: number | null, message = "boom"): TaskEvent => ({
    type: "TaskAttemptFailed",
    data: { attempt, error: { message, type: "Error", nonRetryable: false }, failedAt: at, retryAt },
  }),
  deadLettered: (attempt: number, at: number, message = "boom"): TaskEvent => ({
    type: "TaskDeadLettered",
    data: {
      attempt,
      reason: "MAX_ATTEMPTS_EXHAUSTED",
      lastError: { message, type: "Error", nonRetryable: false },
      at,
    },
  }),
  cancelRequested: (at: number): TaskEvent => ({ type: "TaskCancelRequested", data: { reason: "test", at } }),
  cancelled: (at: number): TaskEvent => ({ type: "TaskCancelled", data: { reason: "test", at } }),
};

/** The whole happy life of a task submitted at `at`: submitted, assigned, started, succeeded. */
export function succeededLife(at: number, result: Json = { ok: true }, spec?: TaskSpec): TaskEvent[] {
  return [
    taskEvents.submitted(at, spec),
    taskEvents.assigned(1, at + 1),
    taskEvents.started(1, at + 2),
    taskEvents.succeeded(1, at + 3, result),
  ];
}
