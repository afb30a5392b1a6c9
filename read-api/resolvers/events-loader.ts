import type pg from "pg";
import type { TaskRow } from "../../projections/task-row.ts";

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
}

/**
 * The Mercurius loader of `Task.events`: the histories of every task in the response in one query
 * of their event runs, each ordered by version.
 */
export function eventsLoader(pool: pg.Pool) {
  return async (queries: { obj: TaskRow }[]): Promise<TaskEventNode[][]> => {
    const ids = [...new Set(queries.map((query) => query.obj.id))];
    const { rows } = await pool.query<RunRecord>(
      "select task_id, events from task_event_runs where task_id = any($1::text[]) order by task_id, first_version",
      [ids],
    );
    const byTask = new Map<string, TaskEventNode[]>();
    for (const row of rows) {
      const events = byTask.get(row.task_id) ?? [];
      for (const e of row.events)
        events.push({ version: e.version, type: e.type, at: new Date(e.at), data: e.data });
      byTask.set(row.task_id, events);
    }
    return queries.map((query) => byTask.get(query.obj.id) ?? []);
  };
}
