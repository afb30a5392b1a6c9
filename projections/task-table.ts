import type pg from "pg";
import type { Json, TaskError } from "../domain/task/index.ts";
import type { StoredEvent } from "../event-store/stream-format.ts";
import { streamIdTime } from "../event-store/stream-ids.ts";
import type { RowState, TaskRow } from "./task-row.ts";

/** Anything that runs a query: a pool, or a client inside a transaction. */
export type Queryable = Pick<pg.ClientBase, "query">;

/** A `tasks` row as node-postgres returns it. */
export interface TaskRecord {
  id: string;
  namespace: string;
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
    namespace: r.namespace,
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

/**
 * The statements below are prepared once per connection (named queries): PostgreSQL parses and
 * plans them once, not on every batch.
 *
 * Each column of `tasks`: its name, its PostgreSQL type, how a TaskRow fills it, and whether an
 * event after TaskSubmitted can change it (the `lifecycle` columns an update rewrites). Rows travel
 * to PostgreSQL as ONE json parameter expanded by json_to_recordset — one JSON.stringify of the
 * batch instead of node-postgres' per-element array escaping — with times as Unix milliseconds.
 */
const TASK_COLUMNS: { name: string; type: string; value: (row: TaskRow) => unknown; lifecycle: boolean }[] = [
  { name: "id", type: "text", value: (r) => r.id, lifecycle: false },
  { name: "namespace", type: "text", value: (r) => r.namespace, lifecycle: false },
  { name: "type", type: "text", value: (r) => r.type, lifecycle: false },
  { name: "state", type: "text", value: (r) => r.state, lifecycle: true },
  { name: "priority", type: "int", value: (r) => r.priority, lifecycle: false },
  { name: "attempt", type: "int", value: (r) => r.attempt, lifecycle: true },
  { name: "max_attempts", type: "int", value: (r) => r.maxAttempts, lifecycle: true },
  { name: "payload", type: "jsonb", value: (r) => r.payload, lifecycle: false },
  { name: "result", type: "jsonb", value: (r) => r.result, lifecycle: true },
  { name: "last_error", type: "jsonb", value: (r) => r.lastError, lifecycle: true },
  { name: "idempotency_key", type: "text", value: (r) => r.idempotencyKey, lifecycle: false },
  { name: "requires", type: "jsonb", value: (r) => r.requires, lifecycle: false },
  { name: "metadata", type: "jsonb", value: (r) => r.metadata, lifecycle: false },
  { name: "worker_id", type: "text", value: (r) => r.workerId, lifecycle: true },
  { name: "cancel_requested", type: "boolean", value: (r) => r.cancelRequested, lifecycle: true },
  { name: "available_at", type: "timestamptz", value: (r) => r.availableAt, lifecycle: true },
  { name: "created_at", type: "timestamptz", value: (r) => r.createdAt, lifecycle: false },
  { name: "updated_at", type: "timestamptz", value: (r) => r.updatedAt, lifecycle: true },
  { name: "version", type: "int", value: (r) => r.version, lifecycle: true },
  { name: "partition", type: "int", value: (r) => r.partition, lifecycle: false },
  { name: "last_stream_id", type: "text", value: (r) => r.lastStreamId, lifecycle: true },
];

/** A column as json_to_recordset reads it (times arrive as milliseconds) and as the table stores it. */
const recordType = (type: string) => (type === "timestamptz" ? "double precision" : type);
const stored = (name: string, type: string) =>
  type === "timestamptz" ? `to_timestamp(x.${name} / 1000.0)` : `x.${name}`;

function recordset(columns: typeof TASK_COLUMNS): string {
  return `json_to_recordset($1::json) as x(${columns.map((c) => `${c.name} ${recordType(c.type)}`).join(", ")})`;
}

function rowsJson(rows: TaskRow[], columns: typeof TASK_COLUMNS): string {
  return JSON.stringify(
    rows.map((row) => {
      const record: Record<string, unknown> = {};
      for (const column of columns) record[column.name] = column.value(row);
      return record;
    }),
  );
}

const LIFECYCLE = TASK_COLUMNS.filter((c) => c.lifecycle || c.name === "id");

const INSERT_TASKS = `
  insert into tasks (${TASK_COLUMNS.map((c) => c.name).join(", ")})
  select ${TASK_COLUMNS.map((c) => stored(c.name, c.type)).join(", ")} from ${recordset(TASK_COLUMNS)}
  on conflict (id) do update set ${TASK_COLUMNS.slice(1)
    .map((c) => `${c.name} = excluded.${c.name}`)
    .join(", ")}
  where tasks.version < excluded.version`;

const UPDATE_TASKS = `
  update tasks set ${LIFECYCLE.filter((c) => c.name !== "id")
    .map((c) => `${c.name} = ${stored(c.name, c.type)}`)
    .join(", ")}
  from ${recordset(LIFECYCLE)}
  where tasks.id = x.id and tasks.version < x.version`;

const INSERT_EVENT_RUNS = `
  insert into task_event_runs (task_id, first_version, last_version, partition, events)
  select x.task_id, x.first_version, x.last_version, x.partition, x.events
  from json_to_recordset($1::json)
    as x(task_id text, first_version int, last_version int, partition int, events json)
  on conflict do nothing`;

/** The current rows of these tasks, by id (tasks without a row are absent). */
export async function loadTasks(db: Queryable, ids: string[]): Promise<Map<string, TaskRow>> {
  const { rows } = await db.query<TaskRecord>("select * from tasks where id = any($1::text[])", [ids]);
  return new Map(rows.map((record) => [record.id, taskRowFromRecord(record)]));
}

/** Inserts or replaces these rows in one statement; a row never replaces a newer version. */
export async function upsertTasks(db: Queryable, rows: TaskRow[]): Promise<void> {
  if (rows.length === 0) return;
  await db.query({ name: "tasks-insert", text: INSERT_TASKS, values: [rowsJson(rows, TASK_COLUMNS)] });
}

/**
 * Rewrites the lifecycle columns of rows that exist already, in one statement; what a submission
 * fixed (type, payload, labels, …) is left alone, and a row never replaces a newer version.
 * Returns how many rows it changed.
 */
export async function updateTasks(db: Queryable, rows: TaskRow[]): Promise<number> {
  if (rows.length === 0) return 0;
  const { rowCount } = await db.query({
    name: "tasks-update",
    text: UPDATE_TASKS,
    values: [rowsJson(rows, LIFECYCLE)],
  });
  return rowCount ?? 0;
}

/**
 * How many times a rebuild has swapped in fresh tables for this projector's read model (0: never):
 * rows read before a swap describe tables that are no longer there.
 */
export async function readModelGeneration(db: Queryable, projector: string): Promise<number> {
  const { rows } = await db.query<{ generation: number }>({
    name: "read-model-generation",
    text: "select generation from read_model_generations where projector = $1",
    values: [projector],
  });
  return rows[0]?.generation ?? 0;
}

/** The highest version in the recorded history of each of these tasks (tasks without one are absent). */
export async function recordedVersions(db: Queryable, ids: string[]): Promise<Map<string, number>> {
  const { rows } = await db.query<{ task_id: string; version: number }>(
    "select task_id, max(last_version) as version from task_event_runs where task_id = any($1::text[]) group by task_id",
    [ids],
  );
  return new Map(rows.map((row) => [row.task_id, row.version]));
}

/**
 * Records these events (log order; each task's are consecutive versions above what its history
 * holds) in `task_event_runs`, one row per task; a run already there is left alone.
 */
export async function insertEvents(db: Queryable, events: StoredEvent[]): Promise<void> {
  if (events.length === 0) return;
  // The JSON is written by hand so each event's data goes in as the log holds it, not re-encoded.
  const runs = new Map<string, EventRun>();
  for (const e of events) {
    const entry = `{"version":${e.version},"type":${JSON.stringify(e.type)},"data":${e.rawData ?? JSON.stringify(e.data)},"stream_id":"${e.streamId}","at":${streamIdTime(e.streamId)}}`;
    const run = runs.get(e.taskId);
    if (run) {
      run.lastVersion = e.version;
      run.events.push(entry);
    } else {
      runs.set(e.taskId, {
        firstVersion: e.version,
        lastVersion: e.version,
        partition: e.partition,
        events: [entry],
      });
    }
  }
  const rows: string[] = [];
  for (const [taskId, run] of runs) {
    rows.push(
      `{"task_id":${JSON.stringify(taskId)},"first_version":${run.firstVersion},"last_version":${run.lastVersion},"partition":${run.partition},"events":[${run.events.join(",")}]}`,
    );
  }
  await db.query({
    name: "task-event-runs-insert",
    text: INSERT_EVENT_RUNS,
    values: [`[${rows.join(",")}]`],
  });
}

/** One task's events of a batch, each already JSON. */
interface EventRun {
  firstVersion: number;
  lastVersion: number;
  partition: number;
  events: string[];
}
