import type pg from "pg";
import { eventFromStored, type TaskEvent } from "../../domain/task/index.ts";
import type { StoredOf } from "../event-log.ts";
import { STREAM_START } from "../stream-ids.ts";

/** One task's events to archive: its whole history, and when it finished. */
export interface ArchivedTask {
  taskId: string;
  finishedAt: number;
  events: StoredOf<TaskEvent>[];
}

interface ArchiveRecord {
  task_id: string;
  version: number;
  type: string;
  data: string;
  stream_id: string;
  partition: number;
}

function storedFromRecord(row: ArchiveRecord): StoredOf<TaskEvent> {
  return eventFromStored({
    taskId: row.task_id,
    version: row.version,
    type: row.type,
    data: JSON.parse(row.data) as unknown,
    rawData: row.data,
    streamId: row.stream_id,
    partition: row.partition,
  }) as unknown as StoredOf<TaskEvent>;
}

const DAY_MS = 24 * 3600_000;

/**
 * The PostgreSQL side of the event archive (migrations/006_event_archive.sql): writes a batch of
 * finished tasks' histories in one transaction, reads a task's archived history, keeps the
 * archiver's cursors, and creates and drops the daily partitions.
 */
export class ArchiveStore {
  private readonly pool: pg.Pool;
  /** Daily partitions known to exist (by their first day, ms). */
  private readonly days = new Set<number>();

  constructor(pool: pg.Pool) {
    this.pool = pool;
  }

  /**
   * Archives `tasks` in one transaction. A task archived before under another finish time (it was
   * revived and finished again, or an earlier round could not remove it from the log) has its old
   * rows replaced, so no event is ever archived twice; the same task at the same finish time is
   * inserted again harmlessly (`on conflict do nothing`).
   */
  async write(tasks: ArchivedTask[]): Promise<void> {
    if (tasks.length === 0) return;
    for (const day of new Set(tasks.map((task) => startOfDay(task.finishedAt)))) await this.ensureDay(day);
    const rows = tasks.flatMap((task) =>
      task.events.map((event) => ({
        finished_at: task.finishedAt,
        task_id: task.taskId,
        version: event.version,
        type: event.type,
        data: event.rawData ?? JSON.stringify(event.data),
        stream_id: event.streamId,
        partition: event.partition,
        recorded_at: streamTime(event.streamId),
      })),
    );
    const client = await this.pool.connect();
    try {
      await client.query("begin");
      await client.query(
        `delete from task_event_archive a using json_to_recordset($1::json) as t(task_id text, finished_at bigint)
         where a.task_id = t.task_id and a.finished_at <> to_timestamp(t.finished_at / 1000.0)`,
        [JSON.stringify(tasks.map((task) => ({ task_id: task.taskId, finished_at: task.finishedAt })))],
      );
      await client.query(
        `insert into task_event_archive (finished_at, task_id, version, type, data, stream_id, partition, recorded_at)
         select to_timestamp(r.finished_at / 1000.0), r.task_id, r.version, r.type, r.data::json, r.stream_id,
                r.partition, to_timestamp(r.recorded_at / 1000.0)
         from json_to_recordset($1::json) as r(finished_at bigint, task_id text, version int, type text,
              data text, stream_id text, partition int, recorded_at bigint)
         on conflict do nothing`,
        [JSON.stringify(rows)],
      );
      await client.query("commit");
    } catch (error) {
      await client.query("rollback").catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }

  /** A task's archived events in order (empty when it was never archived). */
  async readTask(taskId: string): Promise<StoredOf<TaskEvent>[]> {
    const { rows } = await this.pool.query<ArchiveRecord>(
      `select task_id, version, type, data::text as data, stream_id, partition
       from task_event_archive where task_id = $1 order by version`,
      [taskId],
    );
    return rows.map(storedFromRecord);
  }

  /** Up to `limit` archived task ids after `afterId`, in id order (for a scan in bounded memory). */
  async taskIds(afterId: string, limit: number): Promise<string[]> {
    const { rows } = await this.pool.query<{ task_id: string }>(
      "select task_id from task_event_archive where version = 1 and task_id > $1 order by task_id limit $2",
      [afterId, limit],
    );
    return rows.map((row) => row.task_id);
  }

  /**
   * The whole archived histories of the next `limit` tasks after `afterId` in id order, each task's
   * events in version order and together (a projection rebuild folds the archive a page at a time).
   */
  async readTasksAfter(afterId: string, limit: number): Promise<StoredOf<TaskEvent>[]> {
    const { rows } = await this.pool.query<ArchiveRecord>(
      `select task_id, version, type, data::text as data, stream_id, partition
       from task_event_archive
       where task_id in (select task_id from task_event_archive
                         where version = 1 and task_id > $1 order by task_id limit $2)
       order by task_id, version`,
      [afterId, limit],
    );
    return rows.map(storedFromRecord);
  }

  /** How many events and tasks the archive holds after task `afterId` (all of it for ''). */
  async countAfter(afterId: string): Promise<{ events: number; tasks: number }> {
    const { rows } = await this.pool.query<{ events: string; tasks: string }>(
      `select count(*) as events, count(*) filter (where version = 1) as tasks
       from task_event_archive where task_id > $1`,
      [afterId],
    );
    return { events: Number(rows[0]?.events ?? 0), tasks: Number(rows[0]?.tasks ?? 0) };
  }

  /** The archiver's position in each partition of the log `log` (the stream's start where none). */
  async cursors(log: string, partitions: number): Promise<Map<number, string>> {
    const { rows } = await this.pool.query<{ partition: number; stream_id: string }>(
      "select partition, stream_id from archive_cursors where log = $1",
      [log],
    );
    const known = new Map(rows.map((row) => [row.partition, row.stream_id]));
    return new Map(Array.from({ length: partitions }, (_, p) => [p, known.get(p) ?? STREAM_START]));
  }

  async moveCursor(log: string, partition: number, streamId: string): Promise<void> {
    await this.pool.query(
      `insert into archive_cursors (log, partition, stream_id) values ($1, $2, $3)
       on conflict (log, partition) do update set stream_id = excluded.stream_id, updated_at = now()`,
      [log, partition, streamId],
    );
  }

  /** Drops the daily partitions that ended before `before` (ms); returns their names. */
  async dropBefore(before: number): Promise<string[]> {
    const { rows } = await this.pool.query<{ name: string }>(
      `select c.relname as name from pg_inherits i join pg_class c on c.oid = i.inhrelid
       where i.inhparent = 'task_event_archive'::regclass`,
    );
    const dropped: string[] = [];
    for (const { name } of rows) {
      // task_event_archive_YYYYMMDD holds the tasks that finished that day (UTC).
      const day = /_(\d{4})(\d{2})(\d{2})$/.exec(name);
      if (!day || Date.parse(`${day[1]}-${day[2]}-${day[3]}T00:00:00Z`) + DAY_MS > before) continue;
      await this.pool.query(`drop table if exists ${quoteIdent(name)}`);
      this.days.clear();
      dropped.push(name);
    }
    return dropped;
  }

  /** The archive's size on disk, in bytes (every partition). */
  async sizeBytes(): Promise<number> {
    const { rows } = await this.pool.query<{ bytes: string | null }>(
      `select sum(pg_total_relation_size(i.inhrelid))::bigint as bytes
       from pg_inherits i where i.inhparent = 'task_event_archive'::regclass`,
    );
    return Number(rows[0]?.bytes ?? 0);
  }

  private async ensureDay(day: number): Promise<void> {
    if (this.days.has(day)) return;
    const from = new Date(day).toISOString().slice(0, 10);
    const to = new Date(day + DAY_MS).toISOString().slice(0, 10);
    const name = `task_event_archive_${from.replaceAll("-", "")}`;
    try {
      await this.pool.query(
        `create table if not exists ${quoteIdent(name)} partition of task_event_archive
         for values from ('${from}T00:00:00Z') to ('${to}T00:00:00Z')`,
      );
    } catch (error) {
      // Two archivers creating the same day at once: the loser finds it there.
      if ((error as { code?: string }).code !== "42P07") throw error;
    }
    this.days.add(day);
  }
}

function startOfDay(ms: number): number {
  return Math.floor(ms / DAY_MS) * DAY_MS;
}

/** When the log recorded an entry: the milliseconds of its stream id. */
function streamTime(streamId: string): number {
  return Number(streamId.slice(0, streamId.indexOf("-")));
}

function quoteIdent(name: string): string {
  if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`not a table name: ${name}`);
  return `"${name}"`;
}
