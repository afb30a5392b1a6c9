import { GraphQLError } from "graphql";
import type pg from "pg";
import type { RowState } from "../../projections/task-row.ts";
import type { FeedEntry } from "../../projections/feed/feed-table.ts";
import {
  comparePoints,
  parseStreamId,
  type FeedPosition,
  type StreamPoint,
} from "../../projections/feed/feed-position.ts";

/** Which feed entries a reader wants; an absent or empty list does not filter. */
export interface FeedFilter {
  eventTypes?: string[] | null;
  states?: RowState[] | null;
  /** Task types (a queue is a task type). */
  queues?: string[] | null;
  taskId?: string | null;
}

export function matches(entry: FeedEntry, filter: FeedFilter | null | undefined): boolean {
  if (!filter) return true;
  const { eventTypes, states, queues, taskId } = filter;
  return (
    (!eventTypes?.length || eventTypes.includes(entry.eventType)) &&
    (!states?.length || states.includes(entry.state)) &&
    (!queues?.length || queues.includes(entry.taskType)) &&
    (taskId == null || entry.taskId === taskId)
  );
}

interface FeedRecord {
  seq: string;
  partition: number;
  stream_ms: string;
  stream_seq: string;
  task_id: string;
  version: number;
  event_type: string;
  task_type: string;
  state: RowState;
  priority: number;
  recorded_at: Date;
}

/** What one read past a position found. */
export interface FeedRead {
  /** Entries in the order they were committed (`seq`), each partition's a prefix of what follows the position. */
  entries: FeedEntry[];
  /** The position after them: past the entries taken, and past those read that did not match. */
  position: FeedPosition;
  /** Whether more entries (matching or not) may follow in some partition. */
  more: boolean;
}

/** Most entries a filtered read looks at per partition, unless told otherwise. */
export const SCAN_WINDOW = 10_000;

/**
 * Reads of the `task_feed` read model (docs/task-feed.md). A position is compared per partition,
 * so what is read past it has no gap whatever order partitions were committed in.
 */
export class FeedStore {
  private readonly pool: pg.Pool;
  private readonly partitions: number;
  private readonly checkpointKey: string;

  private readonly scanWindow: number;

  constructor(pool: pg.Pool, partitions: number, prefix: string, scanWindow = SCAN_WINDOW) {
    this.pool = pool;
    this.scanWindow = scanWindow;
    this.partitions = partitions;
    this.checkpointKey = `${prefix}:tasks`;
  }

  /**
   * Up to `limit` entries past `position` that match `filter`, in commit order, and the position
   * the reader reaches by taking them. Each partition is read in log order from its index. With a
   * filter, each read looks at no more than `scanWindow` entries per partition, and the position
   * moves past those that did not match: a rare filter costs bounded reads that make progress,
   * not a walk to the end of every partition. Throws CURSOR_EXPIRED when retention has already
   * dropped entries past the position.
   */
  async readPast(
    position: FeedPosition,
    filter: FeedFilter | null | undefined,
    limit: number,
  ): Promise<FeedRead> {
    await this.checkHorizon(position);
    const parts = [...Array(this.partitions).keys()];
    const points = parts.map((p) => position.get(p) ?? ([0, 0] as StreamPoint));
    const params: unknown[] = [parts, points.map((p) => p[0]), points.map((p) => p[1]), limit];
    const where = filterSql(filter, params);
    // With a filter: where each partition's window of SCAN_WINDOW entries ends, and how full it is.
    const ends = new Map<number, { point: StreamPoint; full: boolean }>();
    if (where.length > 0) {
      const { rows } = await this.pool.query<{
        partition: number;
        stream_ms: string;
        stream_seq: string;
        n: string;
      }>(
        `select p.partition, e.stream_ms, e.stream_seq, e.n
         from unnest($1::int[], $2::bigint[], $3::bigint[]) as p(partition, ms, sq)
         cross join lateral (
           select w.stream_ms, w.stream_seq, count(*) over () as n
           from (select f.stream_ms, f.stream_seq from task_feed f
                 where f.partition = p.partition and (f.stream_ms, f.stream_seq) > (p.ms, p.sq)
                 order by f.stream_ms, f.stream_seq limit ${this.scanWindow}) w
           order by w.stream_ms desc, w.stream_seq desc limit 1) e`,
        params.slice(0, 3),
      );
      for (const r of rows)
        ends.set(r.partition, {
          point: [Number(r.stream_ms), Number(r.stream_seq)],
          full: Number(r.n) >= this.scanWindow,
        });
      if (ends.size === 0) return { entries: [], position: new Map(position), more: false };
    }
    const bounded = where.length > 0;
    let windowEnds = "";
    if (bounded) {
      const partitions = params.push([...ends.keys()]);
      const ms = params.push([...ends.values()].map((e) => e.point[0]));
      const seqs = params.push([...ends.values()].map((e) => e.point[1]));
      windowEnds = `unnest($${partitions}::int[], $${ms}::bigint[], $${seqs}::bigint[])`;
    }
    const { rows } = await this.pool.query<FeedRecord>(
      bounded
        ? `select f.* from ${windowEnds} as e(partition, ms, sq)
           join unnest($1::int[], $2::bigint[], $3::bigint[]) as p(partition, ms, sq) using (partition)
           cross join lateral (
             select * from task_feed f
             where f.partition = p.partition and (f.stream_ms, f.stream_seq) > (p.ms, p.sq)
               and (f.stream_ms, f.stream_seq) <= (e.ms, e.sq) and ${where.join(" and ")}
             order by f.stream_ms, f.stream_seq limit $4) f
           order by f.seq`
        : `select f.* from unnest($1::int[], $2::bigint[], $3::bigint[]) as p(partition, ms, sq)
           cross join lateral (
             select * from task_feed f
             where f.partition = p.partition and (f.stream_ms, f.stream_seq) > (p.ms, p.sq)
             order by f.stream_ms, f.stream_seq limit $4) f
           order by f.seq`,
      params,
    );
    // Per partition: a full page of matches stops at its last; otherwise the window's end.
    const found = new Map<number, number>();
    for (const r of rows) found.set(r.partition, (found.get(r.partition) ?? 0) + 1);
    const taken = rows.slice(0, limit).map(entryFromRecord);
    const next: FeedPosition = new Map(position);
    let more = rows.length > limit;
    for (const entry of taken) next.set(entry.partition, parseStreamId(entry.streamId));
    for (const [partition, end] of ends) {
      const all = found.get(partition) ?? 0;
      const cut = taken.filter((e) => e.partition === partition).length < all;
      if (all >= limit || end.full) more = true;
      // Past the window's unmatched entries only when every match in it was taken.
      if (!cut && all < limit) next.set(partition, end.point);
    }
    if (!bounded) for (const count of found.values()) if (count >= limit) more = true;
    return { entries: taken, position: next, more };
  }

  /**
   * The newest `limit` entries matching `filter`, newest first, and the projector's position they
   * were read at: one snapshot (REPEATABLE READ), so the position covers exactly what was
   * committed when they were read, and a feed resumed from it misses nothing after them.
   */
  async latest(
    filter: FeedFilter | null | undefined,
    limit: number,
  ): Promise<{ entries: FeedEntry[]; head: FeedPosition }> {
    const client = await this.pool.connect();
    try {
      await client.query("begin isolation level repeatable read read only");
      const params: unknown[] = [limit];
      const where = filterSql(filter, params);
      const { rows } = await client.query<FeedRecord>(
        `select * from task_feed f ${where.length ? `where ${where.join(" and ")}` : ""} order by seq desc limit $1`,
        params,
      );
      const head = await client.query<{ partition: number; stream_id: string }>(
        "select partition, stream_id from projection_checkpoints where projector = $1",
        [this.checkpointKey],
      );
      await client.query("commit");
      return {
        entries: rows.map(entryFromRecord),
        head: new Map(head.rows.map((r) => [r.partition, parseStreamId(r.stream_id)])),
      };
    } finally {
      await client.query("rollback").catch(() => undefined);
      client.release();
    }
  }

  /** Where the projector is now: each partition's checkpoint (the live feed continues from there). */
  async head(): Promise<FeedPosition> {
    const { rows } = await this.pool.query<{ partition: number; stream_id: string }>(
      "select partition, stream_id from projection_checkpoints where projector = $1",
      [this.checkpointKey],
    );
    return new Map(rows.map((r) => [r.partition, parseStreamId(r.stream_id)]));
  }

  private async checkHorizon(position: FeedPosition): Promise<void> {
    const { rows } = await this.pool.query<{ partition: number; stream_ms: string; stream_seq: string }>(
      "select partition, stream_ms, stream_seq from task_feed_horizon",
    );
    for (const r of rows) {
      const seen = position.get(r.partition) ?? ([0, 0] as StreamPoint);
      if (comparePoints(seen, [Number(r.stream_ms), Number(r.stream_seq)]) < 0)
        throw new GraphQLError(
          "after: the feed no longer holds every event past this cursor (older than its retention); start again without `after`",
          { extensions: { code: "CURSOR_EXPIRED", argument: "after" } },
        );
    }
  }
}

/** The filter as SQL conditions on `task_feed f`, their values appended to `params`. */
function filterSql(filter: FeedFilter | null | undefined, params: unknown[]): string[] {
  const where: string[] = [];
  const add = (clause: string, value: unknown) => where.push(clause.replace("?", `$${params.push(value)}`));
  if (filter?.eventTypes?.length) add("f.event_type = any(?::text[])", filter.eventTypes);
  if (filter?.states?.length) add("f.state = any(?::text[])", filter.states);
  if (filter?.queues?.length) add("f.task_type = any(?::text[])", filter.queues);
  if (filter?.taskId != null) add("f.task_id = ?", filter.taskId);
  return where;
}

function entryFromRecord(r: FeedRecord): FeedEntry {
  return {
    partition: r.partition,
    streamId: `${r.stream_ms}-${r.stream_seq}`,
    taskId: r.task_id,
    version: r.version,
    eventType: r.event_type,
    taskType: r.task_type,
    state: r.state,
    priority: r.priority,
    at: r.recorded_at.getTime(),
  };
}
