import type { ScheduleDefinition } from "./events.ts";

/** What may be asked of a schedule, in the imperative. `now` is passed in: the domain has no clock. */
export type ScheduleCommand =
  | { type: "CreateSchedule"; data: ScheduleDefinition & { now: number } }
  | { type: "PauseSchedule"; data: { now: number } }
  | { type: "ResumeSchedule"; data: { now: number } }
  | { type: "DeleteSchedule"; data: { now: number } }
  /** The leader applies the catch-up policy before firing: records the missed firings it passes over. */
  | { type: "ApplyCatchUp"; data: { now: number } }
  /** The leader submitted (or could not submit) the firing due at `fireAt`. */
  | {
      type: "RecordFiring";
      data: { fireAt: number; taskId: string | null; error: string | null; now: number };
    };

export type ScheduleCommandType = ScheduleCommand["type"];
