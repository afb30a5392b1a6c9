import type { Json } from "../task/spec.ts";

/** A schedule's lifecycle: ACTIVE fires, PAUSED does not, DELETED is final. */
export type ScheduleStatus = "ACTIVE" | "PAUSED" | "DELETED";

/**
 * What happens to firings missed while no dispatcher led (or while it was too busy), see
 * docs/schedules.md: LATEST fires only the most recent, ALL fires each (at most
 * CATCH_UP_MAX_FIRINGS), NONE fires only those still on time.
 */
export type CatchUpPolicy = "LATEST" | "ALL" | "NONE";
export const CATCH_UP_POLICIES: readonly CatchUpPolicy[] = ["LATEST", "ALL", "NONE"];
export const DEFAULT_CATCH_UP: CatchUpPolicy = "LATEST";

/**
 * What each firing submits: a task submission exactly as producers POST it to /v1/tasks, without
 * `idempotencyKey` or `runAt` — each firing sets its own key; `delayMs` is allowed.
 */
export type TaskTemplate = { type: string } & { [field: string]: Json };

/** What a schedule is asked to do; fixed at creation. */
export interface ScheduleDefinition {
  cron: string;
  timeZone: string;
  task: TaskTemplate;
  catchUp: CatchUpPolicy;
}

/** Everything that can happen to a schedule, in the past tense. Times are Unix milliseconds. */
export type ScheduleEvent =
  | { type: "ScheduleCreated"; data: ScheduleDefinition & { createdAt: number } }
  | { type: "SchedulePaused"; data: { at: number } }
  | { type: "ScheduleResumed"; data: { at: number } }
  | { type: "ScheduleDeleted"; data: { at: number } }
  | {
      type: "ScheduleFired";
      /**
       * The firing due at `fireAt` was submitted at `at` as task `taskId` (the first task of its
       * idempotency key), or could not be (`taskId` null, `error` says why: the template no longer
       * passes validation).
       */
      data: { fireAt: number; taskId: string | null; error: string | null; at: number };
    }
  | {
      type: "ScheduleFiringsSkipped";
      /**
       * The catch-up policy passed over the missed firings from `first` to `last`; `count` is null
       * when there were more than the scan limit (it was not counted).
       */
      data: { first: number; last: number; count: number | null; policy: CatchUpPolicy; at: number };
    };

export type ScheduleEventType = ScheduleEvent["type"];
