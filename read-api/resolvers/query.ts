import { GraphQLError } from "graphql";
import type pg from "pg";
import type { RowState, TaskRow } from "../../projections/task-row.ts";
import { loadTasks, taskRowFromRecord, type TaskRecord } from "../../projections/task-table.ts";
import { decodeCursor, encodeCursor } from "./cursor.ts";

/** The `TaskFilter` input. */
export interface TaskFilter {
  state?: RowState | null;
  type?: string | null;
}

export interface QueryDeps {
  pool: pg.Pool;
  /** Answers `task(id)` for a task the read model does not hold yet (projection lag). */
  getTaskFromLog?: (id: string) => Promise<TaskRow | null>;
}

const MAX_FIRST = 500;
const STATES: RowState[] = ["QUEUED", "ASSIGNED", "RUNNING", "SUCCEEDED", "DEAD_LETTERED", "CANCELLED"];

/** Query.task, Query.tasks and Query.stats, over the `tasks` table. */
export function queryResolvers({ pool, getTaskFromLog }: QueryDeps) {
  return {
    task: async (_root: unknown, { id }: { id: string }) =>
      (await loadTasks(pool, [id])).get(id) ?? (await getTaskFromLog?.(id)) ?? null,
    tasks: (_root: unknown, args: { filter?: TaskFilter | null; first: number; after?: string | null }) =>
      listTasks(pool, args),
    stats: () => stats(pool),
  };
}

/**
 * One page of tasks in id order, after a cursor: keyset pagination. Ids are UUIDv7 from the same
 * clock reading as created_at, so this is creation order (migrations/004_task_indexes_by_id.sql).
 */
async function listTasks(
  pool: pg.Pool,
  { filter, first, after }: { filter?: TaskFilter | null; first: number; after?: string | null },
) {
  if (!Number.isInteger(first) || first < 1 || first > MAX_FIRST) {
    throw new GraphQLError(`first: must be between 1 and ${MAX_FIRST}, got ${first}`, {
      extensions: { code: "BAD_USER_INPUT", argument: "first" },
    });
  }
  const params: unknown[] = [];
  const param = (value: unknown) => `$${params.push(value)}`;
  const where: string[] = [];
  if (filter?.state != null) where.push(`state = ${param(filter.state)}`);
  if (filter?.type != null) where.push(`type = ${param(filter.type)}`);
  if (after != null) {
    const cursor = decodeCursor(after);
    where.push(`id > ${param(cursor.id)}`);
  }
  const { rows } = await pool.query<TaskRecord>(
    `select * from tasks ${where.length > 0 ? `where ${where.join(" and ")}` : ""}
     order by id limit ${param(first + 1)}`,
    params,
  );
  const page = rows.slice(0, first).map(taskRowFromRecord);
  const last = page.at(-1);
  return {
    edges: page.map((node) => ({ node, cursor: encodeCursor(node) })),
    pageInfo: { hasNextPage: rows.length > first, endCursor: last ? encodeCursor(last) : null },
  };
}

/** How many tasks are in each state (every state listed, zero included), and in all. */
async function stats(pool: pg.Pool) {
  const { rows } = await pool.query<{ state: RowState; count: number }>(
    "select state, count(*)::int as count from tasks group by state",
  );
  const counts = new Map(rows.map((row) => [row.state, row.count]));
  const byState = STATES.map((state) => ({ state, count: counts.get(state) ?? 0 }));
  return { byState, total: byState.reduce((sum, s) => sum + s.count, 0) };
}
