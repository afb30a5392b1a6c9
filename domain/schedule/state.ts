import { nextFireTime } from "./cron.ts";
import {
  DEFAULT_CATCH_UP,
  type CatchUpPolicy,
  type ScheduleEvent,
  type ScheduleStatus,
  type TaskTemplate,
} from "./events.ts";

/** A schedule's current state: the left fold of its events with `evolve`. */
export interface ScheduleState {
  status: "NEW" | ScheduleStatus;
  cron: string;
  timeZone: string;
  task: TaskTemplate | null;
  catchUp: CatchUpPolicy;
  /**
   * The instant after which the next fire time is computed: creation, then the last firing recorded
   * or skipped, or the resumption. Everything at or before it has been decided, so a new leader
   * continues from here and neither fires a firing twice nor passes one over unrecorded.
   */
  cursor: number;
  /** Fire time of the last firing recorded, and the task it submitted. */
  lastFiredAt: number | null;
  lastTaskId: string | null;
  /** Firings recorded so far. */
  firings: number;
  createdAt: number | null;
  updatedAt: number | null;
  version: number;
}

export function initialState(): ScheduleState {
  return {
    status: "NEW",
    cron: "",
    timeZone: "UTC",
    task: null,
    catchUp: DEFAULT_CATCH_UP,
    cursor: 0,
    lastFiredAt: null,
    lastTaskId: null,
    firings: 0,
    createdAt: null,
    updatedAt: null,
    version: 0,
  };
}

/** Applies one event. Pure; never throws: the log is the truth, whatever it holds. */
export function evolve(state: ScheduleState, event: ScheduleEvent): ScheduleState {
  const next: ScheduleState = { ...state, version: state.version + 1 };
  switch (event.type) {
    case "ScheduleCreated": {
      const { cron, timeZone, task, catchUp, createdAt } = event.data;
      return {
        ...next,
        status: "ACTIVE",
        cron,
        timeZone,
        task,
        catchUp,
        cursor: createdAt,
        createdAt,
        updatedAt: createdAt,
      };
    }
    case "SchedulePaused":
      return { ...next, status: "PAUSED", updatedAt: event.data.at };
    case "ScheduleResumed":
      // Firings that fell due while paused are not owed: counting restarts at the resumption.
      return {
        ...next,
        status: "ACTIVE",
        cursor: Math.max(state.cursor, event.data.at),
        updatedAt: event.data.at,
      };
    case "ScheduleDeleted":
      return { ...next, status: "DELETED", updatedAt: event.data.at };
    case "ScheduleFired": {
      const { fireAt, taskId, at } = event.data;
      return {
        ...next,
        cursor: Math.max(state.cursor, fireAt),
        lastFiredAt: fireAt,
        lastTaskId: taskId,
        firings: state.firings + 1,
        updatedAt: at,
      };
    }
    case "ScheduleFiringsSkipped":
      return { ...next, cursor: Math.max(state.cursor, event.data.last), updatedAt: event.data.at };
    default: {
      const unknown: never = event;
      return unknown;
    }
  }
}

/** Folds a schedule's whole history. */
export function fold(events: readonly ScheduleEvent[]): ScheduleState {
  return events.reduce(evolve, initialState());
}

/** When an ACTIVE schedule fires next (possibly in the past, when firings are owed); null otherwise. */
export function nextFireAt(state: ScheduleState): number | null {
  if (state.status !== "ACTIVE") return null;
  return nextFireTime(state.cron, state.timeZone, state.cursor);
}
