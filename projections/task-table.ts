import type pg from "pg";
import type { Json, TaskError } from "../domain/task/index.ts";
import { streamIdTime, type StoredEvent } from "../commands/event-store/stream-format.ts";
import type { RowState, TaskRow } from "./task-row.ts";

/** Anything that runs a query: a pool, or a client inside a transaction. */
export type Queryable = Pick<pg.ClientBase, "query">;

/** A `tasks` row as node-postgres returns it. */
export interface TaskRecord {
  id: string;
  type: string;
  state: RowState;
  priority: number;
  attempt: number;
  max_attempts: number;
  payload: Json;
  result: Json;
  last_error: TaskError | null;
  idempotency_key: string | null;
  requires: Record<string, string>;
  metadata: Record<string, string>;
  worker_id: string | null;
  cancel_requested: boolean;
  available_at: Date | null;
  created_at: Date;
  updated_at: Date;
  version: number;
  partition: number;
  last_stream_id: string;
}

/** Maps a `tasks` record to a TaskRow. */
export function taskRowFromRecord(r: TaskRecord): TaskRow {
  return {
    id: r.id,
    type: r.type,
    state: r.state,
    priority: r.priority,
    attempt: r.attempt,
    maxAttempts: r.max_attempts,
    payload: r.payload,
    result: r.result,
    lastError: r.last_error,
    idempotencyKey: r.idempotency_key,
    requires: r.requires,
    metadata: r.metadata,
    workerId: r.worker_id,
    cancelRequested: r.cancel_requested,
    availableAt: r.available_at?.getTime() ?? null,
    createdAt: r.created_at.getTime(),
    updatedAt: r.updated_at.getTime(),
    version: r.version,
    partition: r.partition,
    lastStreamId: r.last_stream_id,
  };
}

const json = (value: unknown) => (value === null ? null : JSON.stringify(value));
const time = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** Each column of `tasks`: its name, its PostgreSQL type and how a TaskRow fills it. */
const TASK_COLUMNS: [string, string, (row: TaskRow) => unknown][] = [
  ["id", "text", (r) => r.id],
  ["type", "text", (r) => r.type],
  ["state", "text", (r) => r.state],
  ["priority", "int", (r) => r.priority],
  ["attempt", "int", (r) => r.attempt],
  ["max_attempts", "int", (r) => r.maxAttempts],
  ["payload", "jsonb", (r) => json(r.payload)],
  ["result", "jsonb", (r) => json(r.result)],
  ["last_error", "jsonb", (r) => json(r.lastError)],
  ["idempotency_key", "text", (r) => r.idempotencyKey],
  ["requires", "jsonb", (r) => json(r.requires)],
  ["metadata", "jsonb", (r) => json(r.metadata)],
  ["worker_id", "text", (r) => r.workerId],
  ["cancel_requested", "boolean", (r) => r.cancelRequested],
  ["available_at", "timestamptz", (r) => time(r.availableAt)],
  ["created_at", "timestamptz", (r) => time(r.createdAt)],
  ["updated_at", "timestamptz", (r) => time(r.updatedAt)],
  ["version", "int", (r) => r.version],
  ["partition", "int", (r) => r.partition],
  ["last_stream_id", "text", (r) => r.lastStreamId],
];

const UPSERT_TASKS = `
  insert into tasks (${TASK_COLUMNS.map(([name]) => name).join(", ")})
  select * from unnest(${TASK_COLUMNS.map(([, type], i) => `$${i + 1}::${type}[]`).join(", ")})
  on conflict (id) do update set ${TASK_COLUMNS.slice(1)
    .map(([name]) => `${name} = excluded.${name}`)
    .join(", ")}
  where tasks.version < excluded.version`;

const INSERT_EVENTS = `
  insert into task_events (task_id, version, type, data, stream_id, partition, recorded_at)
  select * from unnest($1::text[], $2::int[], $3::text[], $4::jsonb[], $5::text[], $6::int[], $7::timestamptz[])
  on conflict do nothing`;

/** The current rows of these tasks, by id (tasks without a row are absent). */
export async function loadTasks(db: Queryable, ids: string[]): Promise<Map<string, TaskRow>> {
  const { rows } = await db.query<TaskRecord>("select * from tasks where id = any($1::text[])", [ids]);
  return new Map(rows.map((record) => [record.id, taskRowFromRecord(record)]));
}

/** Inserts or replaces these rows in one statement; a row never replaces a newer version. */
export async function upsertTasks(db: Queryable, rows: TaskRow[]): Promise<void> {
  if (rows.length === 0) return;
  await db.query(
    UPSERT_TASKS,
    TASK_COLUMNS.map(([, , value]) => rows.map(value)),
  );
}

/** Records these events in `task_events` in one statement; events already there are left alone. */
export async function insertEvents(db: Queryable, events: StoredEvent[]): Promise<void> {
  if (events.length === 0) return;
  await db.query(INSERT_EVENTS, [
    events.map((e) => e.taskId),
    events.map((e) => e.version),
    events.map((e) => e.type),
    events.map((e) => JSON.stringify(e.data)),
    events.map((e) => e.streamId),
    events.map((e) => e.partition),
    events.map((e) => new Date(streamIdTime(e.streamId)).toISOString()),
  ]);
}
