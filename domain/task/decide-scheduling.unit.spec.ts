import { describe, it } from "vitest";
import { DeciderSpec } from "../testing/decider-spec.ts";
import { decide } from "./decide.ts";
import { IllegalStateError } from "./errors.ts";
import type { TaskEvent } from "./events.ts";
import { DEFAULT_RETRY, DEFAULT_TIMEOUTS, type TaskSpec } from "./spec.ts";
import { evolve, initialState } from "./state.ts";

const spec = (overrides: Partial<TaskSpec> = {}): TaskSpec => ({
  namespace: "default",
  type: "job",
  payload: null,
  priority: 5,
  requires: {},
  idempotencyKey: null,
  runAt: null,
  retry: { ...DEFAULT_RETRY, maxAttempts: 2 },
  timeouts: { ...DEFAULT_TIMEOUTS, scheduleToStartMs: 1000 },
  metadata: {},
  concurrency: null,
  traceparent: null,
  tracestate: null,
  ...overrides,
});
const given = DeciderSpec.for({ decide, evolve, initialState });
const error = { message: "boom", type: "Boom", nonRetryable: true };
const submitted = (s = spec()): TaskEvent => ({ type: "TaskSubmitted", data: { spec: s, submittedAt: 0 } });
const assigned = (attempt: number): TaskEvent => ({
  type: "TaskAssigned",
  data: { attempt, workerId: "w", assignedAt: 10, deadlineAt: null },
});
const deadLettered: TaskEvent[] = [
  assigned(1),
  { type: "TaskAttemptFailed", data: { attempt: 1, error, failedAt: 20, retryAt: null } },
  { type: "TaskDeadLettered", data: { attempt: 1, reason: "NON_RETRYABLE_ERROR", lastError: error, at: 20 } },
];

describe("ExpireSchedule (schedule-to-start timeout)", () => {
  it("dead-letters a task still waiting when its schedule-to-start time has passed", () =>
    given
      .given([submitted()])
      .when({ type: "ExpireSchedule", data: { now: 1000 } })
      .then([
        {
          type: "TaskDeadLettered",
          data: {
            attempt: 0,
            reason: "SCHEDULE_TO_START_TIMEOUT",
            lastError: {
              message: "not started within 1000 ms of being due",
              type: "SCHEDULE_TO_START_TIMEOUT",
              nonRetryable: true,
            },
            at: 1000,
          },
        },
      ]));

  it("counts from runAt, not from submission", () =>
    given
      .given([submitted(spec({ runAt: 5000 }))])
      .when({ type: "ExpireSchedule", data: { now: 5999 } })
      .thenNothing());

  it("does nothing before the timeout, once the task was assigned, or without a timeout", () => {
    given
      .given([submitted()])
      .when({ type: "ExpireSchedule", data: { now: 999 } })
      .thenNothing();
    given
      .given([submitted(), assigned(1)])
      .when({ type: "ExpireSchedule", data: { now: 5000 } })
      .thenNothing();
    given
      .given([submitted(spec({ timeouts: DEFAULT_TIMEOUTS }))])
      .when({ type: "ExpireSchedule", data: { now: 10_000_000 } })
      .thenNothing();
  });
});

describe("RetryTask (revival of a dead-lettered task)", () => {
  it("revives with its policy's attempts on top of those used", () =>
    given
      .given([submitted(), ...deadLettered])
      .when({ type: "RetryTask", data: { maxAttempts: null, reason: "", now: 30 } })
      .then([{ type: "TaskRevived", data: { attemptBudget: 3, reason: "retried by request", at: 30 } }]));

  it("takes an explicit number of fresh attempts, and the revived task can be assigned again", () => {
    given
      .given([submitted(), ...deadLettered])
      .when({ type: "RetryTask", data: { maxAttempts: 5, reason: "fixed upstream", now: 30 } })
      .then([{ type: "TaskRevived", data: { attemptBudget: 6, reason: "fixed upstream", at: 30 } }]);
    given
      .given([
        submitted(),
        ...deadLettered,
        { type: "TaskRevived", data: { attemptBudget: 3, reason: "r", at: 30 } },
      ])
      .when({ type: "AssignTask", data: { workerId: "w2", now: 40 } })
      .then([
        {
          type: "TaskAssigned",
          data: {
            attempt: 2,
            workerId: "w2",
            assignedAt: 40,
            deadlineAt: 40 + DEFAULT_TIMEOUTS.startToCloseMs!,
          },
        },
      ]);
  });

  it("refuses to revive a task that is not dead-lettered", () => {
    given
      .given([submitted()])
      .when({ type: "RetryTask", data: { maxAttempts: null, reason: "", now: 1 } })
      .thenThrows(IllegalStateError);
    given
      .given([
        submitted(),
        assigned(1),
        { type: "TaskSucceeded", data: { attempt: 1, result: null, completedAt: 2 } },
      ])
      .when({ type: "RetryTask", data: { maxAttempts: null, reason: "", now: 3 } })
      .thenThrows(IllegalStateError);
  });
});
