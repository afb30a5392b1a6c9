import type pg from "pg";
import { ValidationError } from "../../domain/task/index.ts";
import type { RowState, TaskRow } from "../../projections/task-row.ts";
import { taskRowFromRecord, type TaskRecord } from "../../projections/task-table.ts";

export const TASK_STATES: readonly RowState[] = [
  "QUEUED",
  "ASSIGNED",
  "RUNNING",
  "SUCCEEDED",
  "DEAD_LETTERED",
  "CANCELLED",
];
export const MAX_PAGE_SIZE = 500;

/** Which tasks a listing holds. */
export interface TaskListQuery {
  /** Only tasks of these namespaces (null: every one). */
  namespaces?: string[] | null;
  state?: RowState | null;
  type?: string | null;
  /** Only tasks whose id sorts after this one (keyset pagination). */
  afterId?: string | null;
  first: number;
}

/** One page of the listing, and whether more follow. */
export interface TaskPage {
  rows: TaskRow[];
  hasNextPage: boolean;
}

/**
 * One page of tasks in id order after `afterId`: keyset pagination. Ids are UUIDv7 from the same
 * clock reading as created_at, so this is creation order (migrations/004_task_indexes_by_id.sql).
 * Shared by GraphQL `tasks` and gRPC `ListTasks`.
 */
export async function listTasks(pool: pg.Pool, query: TaskListQuery): Promise<TaskPage> {
  const { namespaces, state, type, afterId, first } = query;
  if (!Number.isInteger(first) || first < 1 || first > MAX_PAGE_SIZE) {
    throw new ValidationError([{ field: "first", reason: `must be between 1 and ${MAX_PAGE_SIZE}` }]);
  }
  if (state != null && !TASK_STATES.includes(state)) {
    throw new ValidationError([{ field: "state", reason: `must be one of ${TASK_STATES.join(", ")}` }]);
  }
  const params: unknown[] = [];
  const param = (value: unknown) => `$${params.push(value)}`;
  const where: string[] = [];
  if (namespaces != null) where.push(`namespace = any(${param(namespaces)}::text[])`);
  if (state != null) where.push(`state = ${param(state)}`);
  if (type != null) where.push(`type = ${param(type)}`);
  if (afterId != null) where.push(`id > ${param(afterId)}`);
  const { rows } = await pool.query<TaskRecord>(
    `select * from tasks ${where.length > 0 ? `where ${where.join(" and ")}` : ""}
     order by id limit ${param(first + 1)}`,
    params,
  );
  return { rows: rows.slice(0, first).map(taskRowFromRecord), hasNextPage: rows.length > first };
}
