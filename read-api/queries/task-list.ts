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

/** Which tasks a listing holds; every criterion given must hold. */
export interface TaskListQuery {
  /** Only tasks of these namespaces (null: every one). */
  namespaces?: string[] | null;
  state?: RowState | null;
  type?: string | null;
  priority?: number | null;
  workerId?: string | null;
  idempotencyKey?: string | null;
  /** Labels the task requires: each of these (and maybe more). */
  requires?: Record<string, string> | null;
  /** Metadata entries the task carries: each of these (and maybe more). */
  metadata?: Record<string, string> | null;
  /** Creation and last-change time ranges, Unix ms: from inclusive, to exclusive. */
  createdFrom?: number | null;
  createdTo?: number | null;
  updatedFrom?: number | null;
  updatedTo?: number | null;
  /** Newest first instead of oldest first. */
  newestFirst?: boolean;
  /** Only tasks whose id sorts after this one in the listing's order (keyset pagination). */
  afterId?: string | null;
  first: number;
}

/**
 * The smallest UUIDv7 text made at or after `ms`: its first 48 bits are the time. Task ids are made
 * from the clock reading that becomes created_at, so a creation-time range is also an id range and
 * rides on the primary key (or the (state, id), (type, id)… indexes).
 */
export function idAtTime(ms: number): string {
  const hex = Math.max(0, Math.floor(ms)).toString(16).padStart(12, "0").slice(-12);
  return `${hex.slice(0, 8)}-${hex.slice(8)}`;
}

/** One page of the listing, and whether more follow. */
export interface TaskPage {
  rows: TaskRow[];
  hasNextPage: boolean;
}

/**
 * One page of tasks in id order (or reverse) after `afterId`: keyset pagination. Ids are UUIDv7 from
 * the same clock reading as created_at, so this is creation order (migrations/004_task_indexes_by_id.sql).
 * State, type, priority and worker filters ride on an index each (migrations/007); labels,
 * metadata and last-change times are checked on the rows the order walks, within the read pool's
 * statement timeout — combine them with an indexed filter on a large table.
 * Shared by GraphQL `tasks` and gRPC `ListTasks`.
 */
export async function listTasks(pool: pg.Pool, query: TaskListQuery): Promise<TaskPage> {
  const { namespaces, state, type, afterId, first } = query;
  const { priority, workerId, idempotencyKey, requires, metadata } = query;
  const { createdFrom, createdTo, updatedFrom, updatedTo } = query;
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
  if (priority != null) {
    if (!Number.isInteger(priority) || priority < 0 || priority > 9)
      throw new ValidationError([{ field: "priority", reason: "must be an integer from 0 to 9" }]);
    where.push(`priority = ${param(priority)}`);
  }
  if (workerId != null) where.push(`worker_id = ${param(workerId)}`);
  if (idempotencyKey != null) where.push(`idempotency_key = ${param(idempotencyKey)}`);
  for (const [field, value] of [
    ["requires", requires],
    ["metadata", metadata],
  ] as const) {
    if (value == null) continue;
    const ok =
      typeof value === "object" &&
      !Array.isArray(value) &&
      Object.values(value).every((v) => typeof v === "string");
    if (!ok) throw new ValidationError([{ field, reason: "must be an object of string values" }]);
    where.push(`${field} @> ${param(JSON.stringify(value))}::jsonb`);
  }
  if (createdFrom != null)
    where.push(`id >= ${param(idAtTime(createdFrom))}`, `created_at >= ${param(new Date(createdFrom))}`);
  if (createdTo != null)
    where.push(`id < ${param(idAtTime(createdTo))}`, `created_at < ${param(new Date(createdTo))}`);
  if (updatedFrom != null) where.push(`updated_at >= ${param(new Date(updatedFrom))}`);
  if (updatedTo != null) where.push(`updated_at < ${param(new Date(updatedTo))}`);
  const order = query.newestFirst ? "desc" : "asc";
  if (afterId != null) where.push(`id ${query.newestFirst ? "<" : ">"} ${param(afterId)}`);
  const { rows } = await pool.query<TaskRecord>(
    `select * from tasks ${where.length > 0 ? `where ${where.join(" and ")}` : ""}
     order by id ${order} limit ${param(first + 1)}`,
    params,
  );
  return { rows: rows.slice(0, first).map(taskRowFromRecord), hasNextPage: rows.length > first };
}
