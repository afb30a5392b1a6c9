import { describe, it } from "vitest";
import { DeciderSpec } from "../testing/decider-spec.ts";
import type { TaskCommand } from "./commands.ts";
import { decide } from "./decide.ts";
import { IllegalStateError, NotFoundError } from "./errors.ts";
import type { RejectionReason, TaskEvent } from "./events.ts";
import { DEFAULT_TIMEOUTS, type TaskError, type TaskSpec } from "./spec.ts";
import { evolve, initialState, type TaskState } from "./state.ts";

const spec = DeciderSpec.for<TaskCommand, TaskEvent, TaskState>({ decide, evolve, initialState });

const T0 = 1_700_000_000_000;
const taskSpec: TaskSpec = {
  namespace: "default",
  type: "email.send",
  payload: { to: "a@example.com" },
  priority: 5,
  requires: {},
  idempotencyKey: null,
  runAt: null,
  retry: { maxAttempts: 3, initialBackoffMs: 1_000, backoffMultiplier: 2, maxBackoffMs: 60_000 },
  timeouts: { ...DEFAULT_TIMEOUTS, startToCloseMs: 30_000 },
  metadata: {},
  concurrency: null,
  traceparent: null,
  tracestate: null,
};
const boom: TaskError = { message: "boom", type: "Error", nonRetryable: false };
const fatal: TaskError = { message: "bad input", type: "ValidationError", nonRetryable: true };

// Events
const submitted = (s: TaskSpec = taskSpec, at = T0): TaskEvent => ({
  type: "TaskSubmitted",
  data: { spec: s, submittedAt: at },
});
const assigned = (attempt: number, at = T0 + attempt * 10_000): TaskEvent => ({
  type: "TaskAssigned",
  data: { attempt, workerId: "w1", assignedAt: at, deadlineAt: at + 30_000 },
});
const started = (attempt: number, at = T0 + attempt * 10_000 + 1): TaskEvent => ({
  type: "TaskStarted",
  data: { attempt, workerId: "w1", startedAt: at },
});
const failedRetrying = (attempt: number, at = T0 + attempt * 10_000 + 2): TaskEvent => ({
  type: "TaskAttemptFailed",
  data: { attempt, error: boom, failedAt: at, retryAt: at + 1_000 },
});
const succeeded = (attempt: number): TaskEvent => ({
  type: "TaskSucceeded",
  data: { attempt, result: "ok", completedAt: T0 + 99_000 },
});
const cancelRequested: TaskEvent = { type: "TaskCancelRequested", data: { reason: "user", at: T0 + 5 } };
const cancelled: TaskEvent = { type: "TaskCancelled", data: { reason: "user", at: T0 + 5 } };

// Commands
const NOW = T0 + 50_000;
const submit = (s: TaskSpec = taskSpec): TaskCommand => ({ type: "SubmitTask", data: { spec: s, now: T0 } });
const assign = (now = NOW): TaskCommand => ({ type: "AssignTask", data: { workerId: "w2", now } });
const start = (attempt: number): TaskCommand => ({
  type: "StartAttempt",
  data: { attempt, workerId: "w1", now: NOW },
});
const progress = (attempt: number): TaskCommand => ({
  type: "RecordProgress",
  data: { attempt, details: { pct: 50 }, now: NOW },
});
const complete = (attempt: number): TaskCommand => ({
  type: "CompleteAttempt",
  data: { attempt, result: { sent: true }, now: NOW },
});
const fail = (attempt: number, error = boom, jitter = 1, cancelledFlag = false): TaskCommand => ({
  type: "FailAttempt",
  data: { attempt, error, cancelled: cancelledFlag, jitter, now: NOW },
});
const cancel = (reason = "user"): TaskCommand => ({ type: "CancelTask", data: { reason, now: NOW } });

const rejected = (
  attempt: number,
  currentAttempt: number,
  reason: RejectionReason,
  workerId?: string,
): TaskEvent => ({
  type: "TaskResultRejected",
  data:
    workerId === undefined
      ? { attempt, currentAttempt, reason, at: NOW }
      : { attempt, currentAttempt, reason, at: NOW, workerId },
});
const completeBy = (attempt: number, workerId: string): TaskCommand => ({
  type: "CompleteAttempt",
  data: { attempt, result: { forged: true }, now: NOW, workerId },
});

const running = (attempt = 1): TaskEvent[] => [submitted(), assigned(attempt), started(attempt)];

describe("decide", () => {
  describe("SubmitTask", () => {
    it("submits a new task", () => {
      spec
        .given([])
        .when(submit())
        .then([{ type: "TaskSubmitted", data: { spec: taskSpec, submittedAt: T0 } }]);
    });

    it("ignores a repeated submission", () => {
      spec.given([submitted()]).when(submit()).thenNothing();
    });

    it("ignores a submission of a finished task", () => {
      spec
        .given([...running(), succeeded(1)])
        .when(submit())
        .thenNothing();
    });
  });

  describe("AssignTask", () => {
    it("assigns a queued task as the next attempt, with a deadline of now + startToCloseMs", () => {
      spec
        .given([submitted()])
        .when(assign())
        .then([
          {
            type: "TaskAssigned",
            data: { attempt: 1, workerId: "w2", assignedAt: NOW, deadlineAt: NOW + 30_000 },
          },
        ]);
    });

    it("assigns the attempt after a failed one once its backoff is over", () => {
      spec
        .given([...running(1), failedRetrying(1)])
        .when(assign())
        .then([
          {
            type: "TaskAssigned",
            data: { attempt: 2, workerId: "w2", assignedAt: NOW, deadlineAt: NOW + 30_000 },
          },
        ]);
    });

    it("sets no deadline without a startToClose timeout", () => {
      const noTimeout = { ...taskSpec, timeouts: { ...taskSpec.timeouts, startToCloseMs: null } };
      spec
        .given([submitted(noTimeout)])
        .when(assign())
        .then([
          { type: "TaskAssigned", data: { attempt: 1, workerId: "w2", assignedAt: NOW, deadlineAt: null } },
        ]);
    });

    it("assigns a scheduled task exactly at its runAt", () => {
      spec
        .given([submitted({ ...taskSpec, runAt: NOW })])
        .when(assign(NOW))
        .then([
          {
            type: "TaskAssigned",
            data: { attempt: 1, workerId: "w2", assignedAt: NOW, deadlineAt: NOW + 30_000 },
          },
        ]);
    });

    it("refuses a task whose runAt is still in the future", () => {
      spec
        .given([submitted({ ...taskSpec, runAt: NOW + 1 })])
        .when(assign(NOW))
        .thenThrows(IllegalStateError, (e) => e.code === "ILLEGAL_STATE" && /not due/.test(e.message));
    });

    it("refuses a task still in its retry backoff", () => {
      spec
        .given([...running(1), failedRetrying(1, NOW)])
        .when(assign(NOW))
        .thenThrows(IllegalStateError, (e) => /not due/.test(e.message));
    });

    it.each([
      ["ASSIGNED", [submitted(), assigned(1)]],
      ["RUNNING", running()],
      ["SUCCEEDED", [...running(), succeeded(1)]],
      ["CANCELLED", [submitted(), cancelled]],
    ])("refuses a task that is %s", (status, history) => {
      spec
        .given(history)
        .when(assign())
        .thenThrows(IllegalStateError, (e) => e.message.includes(status));
    });

    it("refuses a task whose cancel was requested", () => {
      // Not reachable through decide (a queued task is cancelled at once), but the log is the truth.
      spec
        .given([submitted(), cancelRequested])
        .when(assign())
        .thenThrows(IllegalStateError, (e) => /cancelled/.test(e.message));
    });
  });

  describe("StartAttempt", () => {
    it("starts the assigned attempt", () => {
      spec
        .given([submitted(), assigned(1)])
        .when(start(1))
        .then([{ type: "TaskStarted", data: { attempt: 1, workerId: "w1", startedAt: NOW } }]);
    });

    it("ignores a duplicate start", () => {
      spec.given(running(1)).when(start(1)).thenNothing();
    });

    it("rejects a start from a stale attempt", () => {
      spec
        .given([...running(1), failedRetrying(1), assigned(2)])
        .when(start(1))
        .then([rejected(1, 2, "STALE_ATTEMPT", "w1")]);
    });

    it("rejects a start from a future attempt", () => {
      spec
        .given([submitted(), assigned(1)])
        .when(start(2))
        .then([rejected(2, 1, "STALE_ATTEMPT", "w1")]);
    });

    it("rejects a start of an attempt that failed and awaits its retry", () => {
      spec
        .given([...running(1), failedRetrying(1)])
        .when(start(1))
        .then([rejected(1, 1, "NOT_ASSIGNED", "w1")]);
    });

    it("rejects a start after the task has finished", () => {
      spec
        .given([...running(1), succeeded(1)])
        .when(start(1))
        .then([rejected(1, 1, "TASK_TERMINAL", "w1")]);
    });
  });

  describe("RecordProgress", () => {
    it("records progress of the current attempt", () => {
      spec
        .given(running(1))
        .when(progress(1))
        .then([{ type: "TaskProgressRecorded", data: { attempt: 1, details: { pct: 50 }, at: NOW } }]);
    });

    it("keeps a bounded number of progress events per attempt: past 100, one a minute", () => {
      const recorded = (n: number, at: number): TaskEvent[] =>
        Array.from({ length: n }, (_, i) => ({
          type: "TaskProgressRecorded" as const,
          data: { attempt: 1, details: { i }, at: at + i },
        }));
      const at = (now: number): TaskCommand => ({
        type: "RecordProgress",
        data: { attempt: 1, details: { last: true }, now },
      });
      const history = [...running(1), ...recorded(100, NOW - 1000)];
      spec.given(history).when(at(NOW)).thenNothing();
      spec
        .given(history)
        .when(at(NOW - 1000 + 99 + 60_000))
        .then([
          {
            type: "TaskProgressRecorded",
            data: { attempt: 1, details: { last: true }, at: NOW - 1000 + 99 + 60_000 },
          },
        ]);
      // A new attempt starts its own count.
      spec
        .given([...history, failedRetrying(1), assigned(2), started(2)])
        .when({ type: "RecordProgress", data: { attempt: 2, details: 1, now: NOW } })
        .then([{ type: "TaskProgressRecorded", data: { attempt: 2, details: 1, at: NOW } }]);
    });

    it("drops progress from a stale attempt silently", () => {
      spec
        .given([...running(1), failedRetrying(1), assigned(2)])
        .when(progress(1))
        .thenNothing();
    });

    it("drops progress after the task has finished", () => {
      spec
        .given([...running(1), succeeded(1)])
        .when(progress(1))
        .thenNothing();
    });
  });

  describe("CompleteAttempt", () => {
    it("completes the current attempt", () => {
      spec
        .given(running(1))
        .when(complete(1))
        .then([{ type: "TaskSucceeded", data: { attempt: 1, result: { sent: true }, completedAt: NOW } }]);
    });

    it("completes an assigned attempt whose start was never reported", () => {
      spec
        .given([submitted(), assigned(1)])
        .when(complete(1))
        .then([{ type: "TaskSucceeded", data: { attempt: 1, result: { sent: true }, completedAt: NOW } }]);
    });

    it("rejects a completion from a stale attempt", () => {
      spec
        .given([...running(1), failedRetrying(1), assigned(2), started(2)])
        .when(complete(1))
        .then([rejected(1, 2, "STALE_ATTEMPT")]);
    });

    it("rejects a completion after the task has finished", () => {
      spec
        .given([...running(1), succeeded(1)])
        .when(complete(1))
        .then([rejected(1, 1, "TASK_TERMINAL")]);
    });

    it("rejects a completion after the task was cancelled", () => {
      spec
        .given([submitted(), cancelled])
        .when(complete(0))
        .then([rejected(0, 0, "TASK_TERMINAL")]);
    });

    it("rejects a completion from a worker the attempt was not assigned to, naming that worker", () => {
      spec
        .given(running(1))
        .when(completeBy(1, "intruder"))
        .then([rejected(1, 1, "WRONG_WORKER", "intruder")]);
    });

    it("accepts a completion from the worker the attempt was assigned to", () => {
      spec
        .given(running(1))
        .when(completeBy(1, "w1"))
        .then([{ type: "TaskSucceeded", data: { attempt: 1, result: { forged: true }, completedAt: NOW } }]);
    });

    it("rejects a start by another worker, and a failure by another worker", () => {
      spec
        .given([submitted(), assigned(1)])
        .when({ type: "StartAttempt", data: { attempt: 1, workerId: "intruder", now: NOW } })
        .then([rejected(1, 1, "WRONG_WORKER", "intruder")]);
      spec
        .given(running(1))
        .when({
          type: "FailAttempt",
          data: { attempt: 1, error: fatal, cancelled: false, jitter: 1, now: NOW, workerId: "intruder" },
        })
        .then([rejected(1, 1, "WRONG_WORKER", "intruder")]);
    });

    it("rejects a completion of a queued task", () => {
      spec
        .given([submitted()])
        .when(complete(0))
        .then([rejected(0, 0, "NOT_ASSIGNED")]);
    });
  });

  describe("FailAttempt", () => {
    it("schedules a retry at now + backoff while attempts are left", () => {
      spec
        .given([...running(1), failedRetrying(1), assigned(2), started(2)])
        .when(fail(2))
        .then([
          // initial 1s × 2^(2−1) = 2s, full jitter 1.
          {
            type: "TaskAttemptFailed",
            data: { attempt: 2, error: boom, failedAt: NOW, retryAt: NOW + 2_000 },
          },
        ]);
    });

    it("scales the backoff by the jitter", () => {
      spec
        .given(running(1))
        .when(fail(1, boom, 0.5))
        .then([
          { type: "TaskAttemptFailed", data: { attempt: 1, error: boom, failedAt: NOW, retryAt: NOW + 500 } },
        ]);
    });

    it("dead-letters the task when the last attempt fails", () => {
      spec
        .given([...running(1), failedRetrying(1), assigned(2), failedRetrying(2), assigned(3), started(3)])
        .when(fail(3))
        .then([
          { type: "TaskAttemptFailed", data: { attempt: 3, error: boom, failedAt: NOW, retryAt: null } },
          {
            type: "TaskDeadLettered",
            data: { attempt: 3, reason: "MAX_ATTEMPTS_EXHAUSTED", lastError: boom, at: NOW },
          },
        ]);
    });

    it("dead-letters a single-attempt task on its first failure", () => {
      const once = { ...taskSpec, retry: { ...taskSpec.retry, maxAttempts: 1 } };
      spec
        .given([submitted(once), assigned(1), started(1)])
        .when(fail(1))
        .then([
          { type: "TaskAttemptFailed", data: { attempt: 1, error: boom, failedAt: NOW, retryAt: null } },
          {
            type: "TaskDeadLettered",
            data: { attempt: 1, reason: "MAX_ATTEMPTS_EXHAUSTED", lastError: boom, at: NOW },
          },
        ]);
    });

    it("dead-letters at once on a non-retryable error", () => {
      spec
        .given(running(1))
        .when(fail(1, fatal))
        .then([
          { type: "TaskAttemptFailed", data: { attempt: 1, error: fatal, failedAt: NOW, retryAt: null } },
          {
            type: "TaskDeadLettered",
            data: { attempt: 1, reason: "NON_RETRYABLE_ERROR", lastError: fatal, at: NOW },
          },
        ]);
    });

    it("cancels the task when its cancel was requested and the handler stopped on it", () => {
      spec
        .given([...running(1), cancelRequested])
        .when(fail(1, boom, 1, true))
        .then([
          { type: "TaskAttemptFailed", data: { attempt: 1, error: boom, failedAt: NOW, retryAt: null } },
          { type: "TaskCancelled", data: { reason: "cancelled by request", at: NOW } },
        ]);
    });

    it("cancels rather than retries when the attempt failed on its own during a requested cancel", () => {
      spec
        .given([...running(1), cancelRequested])
        .when(fail(1, boom, 1, false))
        .then([
          { type: "TaskAttemptFailed", data: { attempt: 1, error: boom, failedAt: NOW, retryAt: null } },
          { type: "TaskCancelled", data: { reason: "cancel requested; attempt ended: boom", at: NOW } },
        ]);
    });

    it("rejects a failure from a stale attempt", () => {
      spec
        .given([...running(1), failedRetrying(1), assigned(2)])
        .when(fail(1))
        .then([rejected(1, 2, "STALE_ATTEMPT")]);
    });

    it("rejects a failure after the task has finished", () => {
      spec
        .given([...running(1), succeeded(1)])
        .when(fail(1))
        .then([rejected(1, 1, "TASK_TERMINAL")]);
    });
  });

  describe("CancelTask", () => {
    it("cancels a queued task at once", () => {
      spec
        .given([submitted()])
        .when(cancel("no longer needed"))
        .then([{ type: "TaskCancelled", data: { reason: "no longer needed", at: NOW } }]);
    });

    it("asks a running task to stop", () => {
      spec
        .given(running(1))
        .when(cancel())
        .then([{ type: "TaskCancelRequested", data: { reason: "user", at: NOW } }]);
    });

    it("asks an assigned task to stop", () => {
      spec
        .given([submitted(), assigned(1)])
        .when(cancel())
        .then([{ type: "TaskCancelRequested", data: { reason: "user", at: NOW } }]);
    });

    it("ignores a second cancel of a running task", () => {
      spec
        .given([...running(1), cancelRequested])
        .when(cancel())
        .thenNothing();
    });

    it.each([
      ["SUCCEEDED", [...running(1), succeeded(1)]],
      ["CANCELLED", [submitted(), cancelled]],
      [
        "DEAD_LETTERED",
        [
          ...running(1),
          {
            type: "TaskDeadLettered",
            data: { attempt: 1, reason: "NON_RETRYABLE_ERROR", lastError: fatal, at: NOW },
          } satisfies TaskEvent,
        ],
      ],
    ])("refuses to cancel a task that is %s", (status, history) => {
      spec
        .given(history)
        .when(cancel())
        .thenThrows(IllegalStateError, (e) => e.message.includes(status));
    });
  });

  describe("an unknown task", () => {
    it.each([assign(), start(1), progress(1), complete(1), fail(1), cancel()])(
      "refuses $type with NotFoundError",
      (command) => {
        spec
          .given([])
          .when(command)
          .thenThrows(NotFoundError, (e) => e.code === "NOT_FOUND");
      },
    );
  });
});
