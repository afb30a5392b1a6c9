import { nextFireAt, type ScheduleState, type TaskTemplate } from "../../domain/schedule/index.ts";
import { streamIdTime } from "../../event-store/stream-ids.ts";
import type { StoredScheduleEvent } from "../../event-store/schedule-store.ts";
import type { Queryable } from "../task-table.ts";

/** A schedule as the read model holds it: its folded state plus where in the log it was last changed. */
export interface ScheduleRow {
  id: string;
  state: ScheduleState;
  lastStreamId: string;
}

/** A `schedules` record as node-postgres returns it. */
export interface ScheduleRecord {
  id: string;
  cron: string;
  time_zone: string;
  status: ScheduleState["status"];
  task: TaskTemplate;
  catch_up: ScheduleState["catchUp"];
  fire_cursor: Date;
  last_fired_at: Date | null;
  last_task_id: string | null;
  next_fire_at: Date | null;
  firings: number;
  created_at: Date;
  updated_at: Date;
  version: number;
  last_stream_id: string;
}

/** The domain state a record holds: the projector folds further events onto it with `evolve`. */
export function stateFromRecord(r: ScheduleRecord): ScheduleState {
  return {
    status: r.status,
    cron: r.cron,
    timeZone: r.time_zone,
    task: r.task,
    catchUp: r.catch_up,
    cursor: r.fire_cursor.getTime(),
    lastFiredAt: r.last_fired_at?.getTime() ?? null,
    lastTaskId: r.last_task_id,
    firings: r.firings,
    createdAt: r.created_at.getTime(),
    updatedAt: r.updated_at.getTime(),
    version: r.version,
  };
}

const time = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** Each column of `schedules`: its name, its PostgreSQL type and how a row fills it. */
const COLUMNS: [string, string, (row: ScheduleRow) => unknown][] = [
  ["id", "text", (r) => r.id],
  ["cron", "text", (r) => r.state.cron],
  ["time_zone", "text", (r) => r.state.timeZone],
  ["status", "text", (r) => r.state.status],
  ["task", "jsonb", (r) => JSON.stringify(r.state.task)],
  ["catch_up", "text", (r) => r.state.catchUp],
  ["fire_cursor", "timestamptz", (r) => time(r.state.cursor)],
  ["last_fired_at", "timestamptz", (r) => time(r.state.lastFiredAt)],
  ["last_task_id", "text", (r) => r.state.lastTaskId],
  ["next_fire_at", "timestamptz", (r) => time(nextFireAt(r.state))],
  ["firings", "int", (r) => r.state.firings],
  ["created_at", "timestamptz", (r) => time(r.state.createdAt)],
  ["updated_at", "timestamptz", (r) => time(r.state.updatedAt)],
  ["version", "int", (r) => r.state.version],
  ["last_stream_id", "text", (r) => r.lastStreamId],
];

const UPSERT = `
  insert into schedules (${COLUMNS.map(([name]) => name).join(", ")})
  select * from unnest(${COLUMNS.map(([, type], i) => `$${i + 1}::${type}[]`).join(", ")})
  on conflict (id) do update set ${COLUMNS.slice(1)
    .map(([name]) => `${name} = excluded.${name}`)
    .join(", ")}
  where schedules.version < excluded.version`;

const INSERT_EVENTS = `
  insert into schedule_events (schedule_id, version, type, data, stream_id, recorded_at)
  select * from unnest($1::text[], $2::int[], $3::text[], $4::jsonb[], $5::text[], $6::timestamptz[])
  on conflict do nothing`;

const INSERT_FIRINGS = `
  insert into schedule_firings (schedule_id, fire_at, task_id, error, recorded_at)
  select * from unnest($1::text[], $2::timestamptz[], $3::text[], $4::text[], $5::timestamptz[])
  on conflict do nothing`;

/** The current rows of these schedules, by id (schedules without a row are absent). */
export async function loadSchedules(db: Queryable, ids: string[]): Promise<Map<string, ScheduleRow>> {
  const { rows } = await db.query<ScheduleRecord>("select * from schedules where id = any($1::text[])", [
    ids,
  ]);
  return new Map(
    rows.map((r) => [r.id, { id: r.id, state: stateFromRecord(r), lastStreamId: r.last_stream_id }]),
  );
}

/** Inserts or replaces these rows in one statement; a row never replaces a newer version. */
export async function upsertSchedules(db: Queryable, rows: ScheduleRow[]): Promise<void> {
  if (rows.length === 0) return;
  await db.query(
    UPSERT,
    COLUMNS.map(([, , value]) => rows.map(value)),
  );
}

/** Records these events, and the firings among them, in two statements; rows already there stay. */
export async function insertScheduleEvents(db: Queryable, events: StoredScheduleEvent[]): Promise<void> {
  if (events.length === 0) return;
  const recordedAt = (e: StoredScheduleEvent) => new Date(streamIdTime(e.streamId)).toISOString();
  await db.query(INSERT_EVENTS, [
    events.map((e) => e.taskId),
    events.map((e) => e.version),
    events.map((e) => e.type),
    events.map((e) => JSON.stringify(e.data)),
    events.map((e) => e.streamId),
    events.map(recordedAt),
  ]);
  const firings = events.flatMap((e) => (e.type === "ScheduleFired" ? [{ e, data: e.data }] : []));
  if (firings.length === 0) return;
  await db.query(INSERT_FIRINGS, [
    firings.map(({ e }) => e.taskId),
    firings.map(({ data }) => new Date(data.fireAt).toISOString()),
    firings.map(({ data }) => data.taskId),
    firings.map(({ data }) => data.error),
    firings.map(({ e }) => recordedAt(e)),
  ]);
}
