import type { TaskCommand } from "./commands.ts";
import { IllegalStateError, NotFoundError } from "./errors.ts";
import type { RejectionReason, TaskEvent } from "./events.ts";
import { hasAttemptsLeft, retryDelayMs } from "./retry.ts";
import { isTerminal, type TaskState } from "./state.ts";

/** Progress events an attempt records as they come; past them, one per interval (SDKs throttle too). */
export const MAX_PROGRESS_PER_ATTEMPT = 100;
export const PROGRESS_INTERVAL_AFTER_CAP_MS = 60_000;

/**
 * The task decider: which events a command yields against the task's current state. Pure.
 * A command that changes nothing returns []; a start, result or failure from a stale attempt is not
 * an error but an event (TaskResultRejected), so the history shows it (stale progress, which
 * decides nothing, is dropped); illegal requests throw typed errors. A result that arrives after a
 * cancel was requested still wins: the work was done. The attempt number is the fencing token.
 */
export function decide(command: TaskCommand, state: TaskState): TaskEvent[] {
  if (command.type !== "SubmitTask" && state.state === "NEW") throw new NotFoundError("task");
  switch (command.type) {
    case "SubmitTask":
      if (state.state !== "NEW") return [];
      return [{ type: "TaskSubmitted", data: { spec: command.data.spec, submittedAt: command.data.now } }];

    case "AssignTask": {
      const { workerId, now } = command.data;
      if (state.state !== "QUEUED")
        throw new IllegalStateError(`cannot assign a task in state ${state.state}`);
      if (state.cancelRequested) throw new IllegalStateError("cannot assign a task being cancelled");
      if (state.availableAt !== null && state.availableAt > now)
        throw new IllegalStateError("task is not due yet");
      const startToClose = state.spec?.timeouts.startToCloseMs ?? null;
      const deadlineAt = startToClose === null ? null : now + startToClose;
      return [
        { type: "TaskAssigned", data: { attempt: state.attempt + 1, workerId, assignedAt: now, deadlineAt } },
      ];
    }

    case "StartAttempt": {
      const { attempt, workerId, now } = command.data;
      if (state.state === "RUNNING" && attempt === state.attempt && workerId === state.workerId) return [];
      const rejection = reportRejection(state, attempt, workerId);
      if (rejection) return [rejected(state, attempt, rejection, now, workerId)];
      return [{ type: "TaskStarted", data: { attempt, workerId, startedAt: now } }];
    }

    case "RecordProgress": {
      const { attempt, details, now, workerId } = command.data;
      if (reportRejection(state, attempt, workerId)) return [];
      // The log keeps a bounded number of progress events per attempt: the first
      // MAX_PROGRESS_PER_ATTEMPT as they come, then at most one per PROGRESS_INTERVAL_AFTER_CAP_MS.
      if (
        state.progressCount >= MAX_PROGRESS_PER_ATTEMPT &&
        now - (state.lastProgressAt ?? 0) < PROGRESS_INTERVAL_AFTER_CAP_MS
      )
        return [];
      return [{ type: "TaskProgressRecorded", data: { attempt, details, at: now } }];
    }

    case "CompleteAttempt": {
      const { attempt, result, now, workerId } = command.data;
      const rejection = reportRejection(state, attempt, workerId);
      if (rejection) return [rejected(state, attempt, rejection, now, workerId)];
      return [{ type: "TaskSucceeded", data: { attempt, result, completedAt: now } }];
    }

    case "FailAttempt": {
      const { attempt, error, cancelled, jitter, now, workerId } = command.data;
      const rejection = reportRejection(state, attempt, workerId);
      if (rejection) return [rejected(state, attempt, rejection, now, workerId)];
      if (state.cancelRequested) {
        const reason = cancelled
          ? "cancelled by request"
          : `cancel requested; attempt ended: ${error.message}`;
        return [
          { type: "TaskAttemptFailed", data: { attempt, error, failedAt: now, retryAt: null } },
          { type: "TaskCancelled", data: { reason, at: now } },
        ];
      }
      if (command.data.unstarted)
        return [
          {
            type: "TaskAttemptFailed",
            data: { attempt, error, failedAt: now, retryAt: now, unstarted: true },
          },
        ];
      const policy = state.spec!.retry;
      if (!error.nonRetryable && hasAttemptsLeft(state.attemptBudget, attempt)) {
        const retryAt = now + retryDelayMs(policy, attempt, jitter);
        return [{ type: "TaskAttemptFailed", data: { attempt, error, failedAt: now, retryAt } }];
      }
      const reason = error.nonRetryable ? "NON_RETRYABLE_ERROR" : "MAX_ATTEMPTS_EXHAUSTED";
      return [
        { type: "TaskAttemptFailed", data: { attempt, error, failedAt: now, retryAt: null } },
        { type: "TaskDeadLettered", data: { attempt, reason, lastError: error, at: now } },
      ];
    }

    case "CancelTask": {
      const { reason, now } = command.data;
      if (isTerminal(state)) throw new IllegalStateError(`cannot cancel a task in state ${state.state}`);
      if (state.state === "QUEUED") return [{ type: "TaskCancelled", data: { reason, at: now } }];
      if (state.cancelRequested) return [];
      return [{ type: "TaskCancelRequested", data: { reason, at: now } }];
    }

    case "ExpireSchedule": {
      const { now } = command.data;
      const limit = state.spec?.timeouts.scheduleToStartMs ?? null;
      if (state.state !== "QUEUED" || limit === null || now < (state.availableAt ?? 0) + limit) return [];
      const lastError = {
        message: `not started within ${limit} ms of being due`,
        type: "SCHEDULE_TO_START_TIMEOUT",
        nonRetryable: true,
      };
      return [
        {
          type: "TaskDeadLettered",
          data: { attempt: state.attempt, reason: "SCHEDULE_TO_START_TIMEOUT", lastError, at: now },
        },
      ];
    }

    case "RetryTask": {
      const { maxAttempts, reason, now } = command.data;
      if (state.state !== "DEAD_LETTERED") {
        throw new IllegalStateError(`only a dead-lettered task can be retried; this one is ${state.state}`);
      }
      const attemptBudget = state.attempt + (maxAttempts ?? state.spec!.retry.maxAttempts);
      return [
        { type: "TaskRevived", data: { attemptBudget, reason: reason || "retried by request", at: now } },
      ];
    }

    default: {
      const unknown: never = command;
      throw new IllegalStateError(`unknown command ${JSON.stringify(unknown)}`);
    }
  }
}

/**
 * Why a report about `attempt` cannot be accepted, or null when it can. `workerId` is the reporting
 * worker's (undefined for the dispatcher's own verdicts): only the worker the attempt was assigned
 * to may report on it.
 */
function reportRejection(
  state: TaskState,
  attempt: number,
  workerId: string | undefined,
): RejectionReason | null {
  if (isTerminal(state)) return "TASK_TERMINAL";
  if (attempt !== state.attempt) return "STALE_ATTEMPT";
  if (state.state !== "ASSIGNED" && state.state !== "RUNNING") return "NOT_ASSIGNED";
  if (workerId !== undefined && workerId !== state.workerId) return "WRONG_WORKER";
  return null;
}

function rejected(
  state: TaskState,
  attempt: number,
  reason: RejectionReason,
  now: number,
  workerId: string | undefined,
): TaskEvent {
  const data = { attempt, currentAttempt: state.attempt, reason, at: now };
  return { type: "TaskResultRejected", data: workerId === undefined ? data : { ...data, workerId } };
}
