import { GraphQLError } from "graphql";
import type pg from "pg";
import { eventFromStored, evolve, initialState, type TaskEvent } from "../../domain/task/index.ts";
import type { TaskRow } from "../../projections/task-row.ts";
import { actorOf, describeActor } from "../../domain/task/index.ts";
import { chargeResponse, type RequestLimits } from "../limits/request-limits.ts";

interface RunRecord {
  task_id: string;
  events: { version: number; type: string; data: unknown; at: number }[];
}

/** A `TaskEvent` as resolved: `at` is when the log recorded it, `state` the task's state after it. */
export interface TaskEventNode {
  version: number;
  type: string;
  at: Date;
  data: unknown;
  /** Who caused it (domain/task/actor.ts), null when not recorded. */
  actor: string | null;
  actorDescription: string;
  state: string;
}

/** The arguments of `Task.events`. */
export interface EventsPage {
  first?: number | null;
  after?: number | null;
}

export const MAX_EVENTS_PAGE = 500;

/**
 * The Mercurius loader of `Task.events`: one page of the histories of every task in the response,
 * in one query of their event runs, each ordered by version. The whole history is read and folded
 * (each event carries the task's state after it), then paged.
 */
export function eventsLoader(pool: pg.Pool) {
  return async (
    queries: { obj: TaskRow; params: EventsPage }[],
    context: { limits?: RequestLimits },
  ): Promise<TaskEventNode[][]> => {
    for (const { params } of queries) checkPage(params);
    context.limits?.checkTime();
    const { rows } = await pool.query<RunRecord>(
      `select task_id, events from task_event_runs where task_id = any($1::text[]) order by task_id, first_version`,
      [[...new Set(queries.map((q) => q.obj.id))]],
    );
    const byTask = new Map<string, TaskEventNode[]>();
    let state = initialState();
    for (const row of rows) {
      let events = byTask.get(row.task_id);
      if (!events) {
        events = [];
        byTask.set(row.task_id, events);
        state = initialState();
      }
      for (const e of row.events) {
        // As stored: a submission's spec without its defaults, made whole before folding.
        state = evolve(state, eventFromStored({ type: e.type, data: e.data } as TaskEvent));
        events.push({
          version: e.version,
          type: e.type,
          at: new Date(e.at),
          data: e.data,
          state: state.state,
          actor: actorOf(e),
          actorDescription: describeActor(actorOf(e)),
        });
      }
    }
    return queries.map(({ obj, params }) => {
      const { first, after } = checkPage(params);
      const page = (byTask.get(obj.id) ?? []).filter((e) => e.version > after).slice(0, first);
      if (context.limits) for (const event of page) chargeResponse(context.limits, event.data);
      return page;
    });
  };
}

function checkPage(params: EventsPage): { first: number; after: number } {
  const first = params.first ?? 100;
  const after = params.after ?? 0;
  if (!Number.isInteger(first) || first < 1 || first > MAX_EVENTS_PAGE)
    throw new GraphQLError(`first: must be between 1 and ${MAX_EVENTS_PAGE}, got ${first}`, {
      extensions: { code: "BAD_USER_INPUT", argument: "first" },
    });
  if (!Number.isInteger(after) || after < 0)
    throw new GraphQLError(`after: must be a version (0 or more), got ${after}`, {
      extensions: { code: "BAD_USER_INPUT", argument: "after" },
    });
  return { first, after };
}
