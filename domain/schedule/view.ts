import { nextFireAt, type ScheduleState } from "./state.ts";
import type { TaskTemplate } from "./events.ts";

/** A schedule as the command API shows it (REST body; the gRPC Schedule message; GraphQL mutation results). */
export interface ScheduleView {
  id: string;
  status: string;
  cron: string;
  timeZone: string;
  catchUp: string;
  /** The task submission each firing makes (its idempotency key is added per firing). */
  task: TaskTemplate;
  createdAt: string;
  updatedAt: string;
  lastFiredAt: string | null;
  lastTaskId: string | null;
  /** When it fires next; in the past while firings are owed and no leader has caught up; null unless ACTIVE. */
  nextFireAt: string | null;
  /** Firings recorded so far. */
  firings: number;
  version: number;
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** The view of a schedule's state (which must not be NEW). */
export function scheduleView(id: string, state: ScheduleState): ScheduleView {
  return {
    id,
    status: state.status,
    cron: state.cron,
    timeZone: state.timeZone,
    catchUp: state.catchUp,
    task: state.task!,
    createdAt: iso(state.createdAt)!,
    updatedAt: iso(state.updatedAt)!,
    lastFiredAt: iso(state.lastFiredAt),
    lastTaskId: state.lastTaskId,
    nextFireAt: iso(nextFireAt(state)),
    firings: state.firings,
    version: state.version,
  };
}
