import type { Json, TaskError, TaskSpec } from "./spec.ts";

/** What may be asked of a task, in the imperative. `now` and `jitter` are passed in: the domain has no clock and no randomness. */
export type TaskCommand =
  | { type: "SubmitTask"; data: { spec: TaskSpec; now: number } }
  | { type: "AssignTask"; data: { workerId: string; now: number } }
  | { type: "StartAttempt"; data: { attempt: number; workerId: string; now: number } }
  /**
   * A worker's reports carry its id (`workerId`): a report from any worker but the one the attempt
   * was assigned to is rejected. The dispatcher's own verdicts (timeouts, a lost worker) carry none.
   */
  | { type: "RecordProgress"; data: { attempt: number; details: Json; now: number; workerId?: string } }
  | { type: "CompleteAttempt"; data: { attempt: number; result: Json; now: number; workerId?: string } }
  | {
      type: "FailAttempt";
      /** `jitter` in [0, 1] scales the backoff (full jitter); `cancelled` says the handler stopped on a cancel. */
      data: {
        attempt: number;
        error: TaskError;
        cancelled: boolean;
        jitter: number;
        now: number;
        workerId?: string;
        /**
         * The worker never received the attempt (it reconnected without it): the attempt is
         * retried at once and does not use up one of the task's attempts.
         */
        unstarted?: boolean;
      };
    }
  | { type: "CancelTask"; data: { reason: string; now: number } }
  /** Dead-letters a task that waited in the queue past its schedule-to-start timeout. */
  | { type: "ExpireSchedule"; data: { now: number } }
  /** An operator revives a dead-lettered task with `maxAttempts` fresh attempts (default: its policy's). */
  | { type: "RetryTask"; data: { maxAttempts: number | null; reason: string; now: number } };

export type TaskCommandType = TaskCommand["type"];
