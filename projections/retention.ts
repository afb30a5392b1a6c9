import type pg from "pg";

export interface RetentionOptions {
  pool: pg.Pool;
  /** Analytics minutes older than this are dropped, in ms. */
  analyticsRetentionMs: number;
  /** Feed entries older than this are dropped, in ms. */
  feedRetentionMs: number;
  /** Time between two passes, in ms (default 5 minutes). */
  intervalMs?: number;
  /** Most rows one statement deletes, so no pass holds locks for long (default 10,000). */
  chunk?: number;
  onError?: (error: unknown) => void;
}

/** What one pass dropped. */
export interface RetentionPass {
  /** Rows of analytics_minutes and analytics_hours. */
  analyticsMinutes: number;
  /** Rows of analytics_worker_minutes and analytics_worker_hours. */
  workerMinutes: number;
  feedEntries: number;
}

/**
 * Drops what the side models keep only for a while: analytics minutes past their retention and
 * task feed entries past theirs. Runs in the projector role, once at start and then every
 * `intervalMs`; each statement deletes at most `chunk` rows, so it never blocks the projector's
 * batches for long. Several projector instances may run it at once: deleting is idempotent.
 */
export class ReadModelRetention {
  private readonly options: RetentionOptions;
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<unknown> = Promise.resolve();

  constructor(options: RetentionOptions) {
    this.options = options;
  }

  start(): void {
    if (this.timer) return;
    const tick = () => {
      this.running = this.runOnce().catch((error: unknown) => this.options.onError?.(error));
    };
    tick();
    this.timer = setInterval(tick, this.options.intervalMs ?? 300_000);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running;
  }

  /** One pass; `now` is for tests. */
  async runOnce(now = Date.now()): Promise<RetentionPass> {
    const { analyticsRetentionMs, feedRetentionMs } = this.options;
    const analyticsBefore = new Date(now - analyticsRetentionMs);
    // An hour row goes once all of its hour is past the retention.
    const hoursBefore = new Date(now - analyticsRetentionMs - 3_600_000);
    return {
      analyticsMinutes:
        (await this.drain("analytics_minutes", "minute", "minute, task_type", analyticsBefore)) +
        (await this.drain("analytics_hours", "hour", "hour, task_type", hoursBefore)),
      workerMinutes:
        (await this.drain("analytics_worker_minutes", "minute", "minute, worker_id", analyticsBefore)) +
        (await this.drain("analytics_worker_hours", "hour", "hour, worker_id", hoursBefore)),
      feedEntries: await this.drainFeed(new Date(now - feedRetentionMs)),
    };
  }

  /**
   * Drops old feed entries and moves each partition's horizon past them, in one transaction per
   * chunk: a reader whose cursor is behind the horizon is told it cannot resume without a gap.
   */
  private async drainFeed(before: Date): Promise<number> {
    const chunk = this.options.chunk ?? 10_000;
    let total = 0;
    for (;;) {
      const { rows } = await this.options.pool.query<{ count: string }>(
        `with dropped as (
           delete from task_feed where seq in (select seq from task_feed where recorded_at < $1 limit $2)
           returning partition, stream_ms, stream_seq),
         newest as (
           select distinct on (partition) partition, stream_ms, stream_seq from dropped
           order by partition, stream_ms desc, stream_seq desc),
         moved as (
           insert into task_feed_horizon as h (partition, stream_ms, stream_seq) select * from newest
           on conflict (partition) do update set stream_ms = excluded.stream_ms, stream_seq = excluded.stream_seq
           where (h.stream_ms, h.stream_seq) < (excluded.stream_ms, excluded.stream_seq))
         select count(*) as count from dropped`,
        [before, chunk],
      );
      const dropped = Number(rows[0]?.count ?? 0);
      total += dropped;
      if (dropped < chunk) return total;
    }
  }

  private async drain(table: string, column: string, key: string, before: Date): Promise<number> {
    const chunk = this.options.chunk ?? 10_000;
    let total = 0;
    for (;;) {
      const { rowCount } = await this.options.pool.query(
        `delete from ${table} where (${key}) in (select ${key} from ${table} where ${column} < $1 limit $2)`,
        [before, chunk],
      );
      total += rowCount ?? 0;
      if ((rowCount ?? 0) < chunk) return total;
    }
  }
}
