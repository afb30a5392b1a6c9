import type { Json, TaskError, TaskSpec } from "./spec.ts";

/** Everything that can happen to a task, in the past tense. Times are Unix milliseconds. */
export type TaskEvent =
  | { type: "TaskSubmitted"; data: { spec: TaskSpec; submittedAt: number } }
  | {
      type: "TaskAssigned";
      data: { attempt: number; workerId: string; assignedAt: number; deadlineAt: number | null };
    }
  | { type: "TaskStarted"; data: { attempt: number; workerId: string; startedAt: number } }
  | { type: "TaskProgressRecorded"; data: { attempt: number; details: Json; at: number } }
  | { type: "TaskSucceeded"; data: { attempt: number; result: Json; completedAt: number } }
  | {
      type: "TaskAttemptFailed";
      /** `unstarted`: the worker never received the attempt; it does not count against the budget. */
      data: {
        attempt: number;
        error: TaskError;
        failedAt: number;
        retryAt: number | null;
        unstarted?: boolean;
      };
    }
  | {
      type: "TaskDeadLettered";
      data: { attempt: number; reason: DeadLetterReason; lastError: TaskError | null; at: number };
    }
  | { type: "TaskCancelRequested"; data: { reason: string; at: number } }
  | { type: "TaskCancelled"; data: { reason: string; at: number } }
  | { type: "TaskRevived"; data: { attemptBudget: number; reason: string; at: number } }
  | {
      type: "TaskResultRejected";
      /** `workerId`: the worker whose report was refused (absent in events written before it was kept). */
      data: {
        attempt: number;
        currentAttempt: number;
        reason: RejectionReason;
        at: number;
        workerId?: string;
      };
    };

export type TaskEventType = TaskEvent["type"];
export type DeadLetterReason = "MAX_ATTEMPTS_EXHAUSTED" | "NON_RETRYABLE_ERROR" | "SCHEDULE_TO_START_TIMEOUT";
export type RejectionReason = "STALE_ATTEMPT" | "TASK_TERMINAL" | "NOT_ASSIGNED" | "WRONG_WORKER";

/** An event as the log holds it: with its task, its position in the task's history and the time it was written. */
export type RecordedEvent = TaskEvent & { taskId: string; version: number };

export const TERMINAL_EVENTS: ReadonlySet<TaskEventType> = new Set([
  "TaskSucceeded",
  "TaskDeadLettered",
  "TaskCancelled",
]);

export function isTerminalEvent(event: TaskEvent): boolean {
  return TERMINAL_EVENTS.has(event.type);
}
