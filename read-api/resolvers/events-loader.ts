import type pg from "pg";
import type { TaskRow } from "../../projections/task-row.ts";

interface EventRecord {
  task_id: string;
  version: number;
  type: string;
  data: unknown;
  recorded_at: Date;
}

/** A `TaskEvent` as resolved: `at` is when the log recorded it. */
export interface TaskEventNode {
  version: number;
  type: string;
  at: Date;
  data: unknown;
}

/**
 * The Mercurius loader of `Task.events`: the histories of every task in the response in one query,
 * each ordered by version.
 */
export function eventsLoader(pool: pg.Pool) {
  return async (queries: { obj: TaskRow }[]): Promise<TaskEventNode[][]> => {
    const ids = [...new Set(queries.map((query) => query.obj.id))];
    const { rows } = await pool.query<EventRecord>(
      "select task_id, version, type, data, recorded_at from task_events where task_id = any($1::text[]) order by task_id, version",
      [ids],
    );
    const byTask = new Map<string, TaskEventNode[]>();
    for (const row of rows) {
      const events = byTask.get(row.task_id) ?? [];
      events.push({ version: row.version, type: row.type, at: row.recorded_at, data: row.data });
      byTask.set(row.task_id, events);
    }
    return queries.map((query) => byTask.get(query.obj.id) ?? []);
  };
}
