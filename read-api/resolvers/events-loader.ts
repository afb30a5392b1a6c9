import { GraphQLError } from "graphql";
import type pg from "pg";
import type { TaskRow } from "../../projections/task-row.ts";
import { actorOf, describeActor } from "../../domain/task/index.ts";
import { chargeResponse, type RequestLimits } from "../limits/request-limits.ts";

interface RunRecord {
  task_id: string;
  events: { version: number; type: string; data: unknown; at: number }[];
}

/** A `TaskEvent` as resolved: `at` is when the log recorded it. */
export interface TaskEventNode {
  version: number;
  type: string;
  at: Date;
  data: unknown;
  /** Who caused it (domain/task/actor.ts), null when not recorded. */
  actor: string | null;
  actorDescription: string;
}

/** The arguments of `Task.events`. */
export interface EventsPage {
  first?: number | null;
  after?: number | null;
}

export const MAX_EVENTS_PAGE = 500;

/**
 * The Mercurius loader of `Task.events`: one page of the histories of every task in the response,
 * in one query of their event runs per distinct page (runs wholly before `after` are not read),
 * each ordered by version.
 */
export function eventsLoader(pool: pg.Pool) {
  return async (
    queries: { obj: TaskRow; params: EventsPage }[],
    context: { limits?: RequestLimits },
  ): Promise<TaskEventNode[][]> => {
    const pages = new Map<number, Set<string>>();
    for (const { obj, params } of queries) {
      const { after } = checkPage(params);
      const ids = pages.get(after) ?? new Set<string>();
      ids.add(obj.id);
      pages.set(after, ids);
    }
    const byTask = new Map<string, TaskEventNode[]>(); // key: `${after}:${taskId}`
    for (const [after, ids] of pages) {
      context.limits?.checkTime();
      const { rows } = await pool.query<RunRecord>(
        `select task_id, events from task_event_runs
         where task_id = any($1::text[]) and last_version > $2
         order by task_id, first_version`,
        [[...ids], after],
      );
      for (const row of rows) {
        const key = `${after}:${row.task_id}`;
        const events = byTask.get(key) ?? [];
        for (const e of row.events) {
          if (e.version <= after) continue;
          const actor = actorOf(e);
          events.push({
            version: e.version,
            type: e.type,
            at: new Date(e.at),
            data: e.data,
            actor,
            actorDescription: describeActor(actor),
          });
        }
        byTask.set(key, events);
      }
    }
    return queries.map(({ obj, params }) => {
      const { first, after } = checkPage(params);
      const page = (byTask.get(`${after}:${obj.id}`) ?? []).slice(0, first);
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
