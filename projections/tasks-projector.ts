import { setTimeout as sleep } from "node:timers/promises";
import type { RedisClient } from "../event-store/redis-client.ts";
import type pg from "pg";
import type { TaskEvent } from "../domain/task/index.ts";
import type { EventLog } from "../event-store/event-log.ts";
import { FollowingService } from "../event-store/following-service.ts";
import type { StoredEvent } from "../event-store/stream-format.ts";
import { streamIdTime } from "../event-store/stream-ids.ts";
import { loadCheckpoints, type CheckpointMove } from "./checkpoints.ts";
import { compareStreamIds, STREAM_START } from "../event-store/stream-ids.ts";
import { commitBatch } from "./commit-batch.ts";
import { taskUpdatesChannel, type TaskRow } from "./task-row.ts";
import { RowCache } from "./row-cache.ts";
import { taskFeedChannel, type FeedBatch } from "./feed/feed-table.ts";
import { isolatePoison, isTransient, ProjectionStalledError, type StalledPartition } from "./poison.ts";
import { startProjectSpan, TaskTraces } from "./batch-tracing.ts";
import { inSpan } from "../observability/tracing.ts";

export interface TasksProjectorOptions {
  store: EventLog;
  /** For PUBLISH of the changed rows; without it nothing is published (a rebuild's fresh tables). */
  redis?: RedisClient;
  pool: pg.Pool;
  /** Checkpoints are kept under `${store.prefix}:${name}`: a position belongs to one log. Default "tasks". */
  name?: string;
  /** Most events per transaction (default 4000). */
  batchSize?: number;
  /** How long one blocking read of the running loop waits for news, in ms (default 1000). */
  blockMs?: number;
  /** Pause of the running loop after an error before it tries again, in ms (default 1000). */
  retryMs?: number;
  /**
   * Least time between the starts of two commits of the running loop, in ms (default 100): events
   * arriving meanwhile wait and join the next batch, so a task's several events of one moment
   * become one row write. Bounds the rate of transactions, not the lag (at most this much added);
   * skipped while the log is ahead of the projector (a partition read came back full).
   */
  minCommitIntervalMs?: number;
  /** After each commit, with the rows it changed. */
  onCommitted?: (changedTasks: TaskRow[]) => void;
  /** After each commit, with the number of events applied, the batch's lag, and the tasks it created. */
  onBatch?: (events: number, lagMs: number, newTasks: number) => void;
  /**
   * Errors of the running loop (it retries), failed publishes, and each partition stopped at an
   * event it cannot apply (a ProjectionStalledError naming the event's position).
   */
  onError?: (error: unknown) => void;
  /** How long a stalled partition waits before the projector tries its event again (default 60 s). */
  stallRetryMs?: number;
}

/**
 * Folds the event log into the `tasks` and `task_event_runs` tables, exactly once: each batch's rows,
 * events and checkpoint move commit in one transaction, the checkpoint by compare-and-set, so any
 * number of instances may run over one log (see docs/projection-checkpoints.md). After each commit
 * the changed rows are published on `${prefix}:task-updates` (one JSON array per batch) for the read
 * API's subscriptions, when anyone listens.
 */
export class TasksProjector extends FollowingService<TaskEvent> {
  /** The `projector` key of this projector's checkpoint rows. */
  readonly checkpointKey: string;
  /** Events applied to the read model by this instance. */
  projectedEvents = 0;
  committedBatches = 0;
  /** Batches abandoned because another instance had moved the checkpoint first. */
  conflicts = 0;
  publishFailures = 0;
  /** Batches whose rows were not published because no process listened on the channel. */
  unheardBatches = 0;
  /** Age of the newest event of the last committed batch when it committed, in ms. */
  lagMs = 0;

  private readonly options: TasksProjectorOptions;
  private readonly batchSize: number;
  private readonly perPartition: number;
  private readonly channel: string;
  private readonly feedChannel: string;
  private checkpoints = new Map<number, string>();
  private readonly cache = new RowCache();
  /** The traces of the tasks being folded, while tracing (batch-tracing.ts). */
  private readonly traces = new TaskTraces();
  private readonly waiters = new Set<() => void>();
  /** Partitions stopped at an event that cannot be applied; the others go on (see poison.ts). */
  private readonly stalls = new Map<number, StalledPartition>();

  constructor(options: TasksProjectorOptions) {
    const batchSize = options.batchSize ?? 4000;
    const perPartition = Math.max(1, Math.ceil(batchSize / options.store.partitions));
    super(options.store, { batchSize: perPartition, blockMs: options.blockMs, retryMs: options.retryMs });
    this.options = options;
    this.checkpointKey = `${options.store.prefix}:${options.name ?? "tasks"}`;
    this.batchSize = batchSize;
    this.perPartition = perPartition;
    this.channel = taskUpdatesChannel(options.store.prefix);
    this.feedChannel = taskFeedChannel(options.store.prefix);
  }

  /** The partitions this instance has stopped at a poison event, with the event and the error. */
  stalled(): StalledPartition[] {
    return [...this.stalls.values()];
  }

  /**
   * Projects everything in the log now — in each partition `until` names, only up to that stream id
   * — then returns the number of events this call applied. A partition stopped at an event that
   * cannot be applied is tried again; if one still stops, the rest is projected and then its
   * ProjectionStalledError is thrown. An aborted `signal` stops it between two batches.
   */
  async catchUp(
    options: { until?: ReadonlyMap<number, string>; signal?: AbortSignal } = {},
  ): Promise<number> {
    const { store } = this.options;
    const { until, signal } = options;
    this.stalls.clear();
    await this.exclusive(() => this.reload());
    let applied = 0;
    for (let partition = 0; partition < store.partitions; partition++) {
      const last = until?.get(partition);
      if (last !== undefined && compareStreamIds(this.position(partition), last) >= 0) continue;
      for await (const page of store.readAll(partition, {
        after: this.position(partition),
        pageSize: this.batchSize,
      })) {
        signal?.throwIfAborted();
        if (this.stalls.has(partition)) break;
        const wanted =
          last === undefined ? page : page.filter((event) => compareStreamIds(event.streamId, last) <= 0);
        if (wanted.length > 0) applied += (await this.exclusive(() => this.commit(wanted))) ?? 0;
        if (wanted.length < page.length) break;
      }
    }
    const [stall] = this.stalls.values();
    if (stall) throw new ProjectionStalledError(stall);
    return applied;
  }

  /** Resolves once this instance's checkpoint has reached the given stream id in each given partition. */
  waitFor(
    streamIdPerPartition: Map<number, string> | Record<number, string>,
    timeoutMs = 10_000,
  ): Promise<void> {
    const wanted =
      streamIdPerPartition instanceof Map ? [...streamIdPerPartition] : Object.entries(streamIdPerPartition);
    const reached = () => wanted.every(([p, id]) => compareStreamIds(this.position(Number(p)), id) >= 0);
    if (reached()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = () => {
        if (!reached()) return;
        this.waiters.delete(check);
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(
          new Error(
            `projector ${this.checkpointKey} did not reach ${JSON.stringify(wanted)} within ${timeoutMs} ms`,
          ),
        );
      }, timeoutMs);
      this.waiters.add(check);
    });
  }

  protected override prepare(): Promise<void> {
    return this.reload();
  }

  /** The checkpoints of the partitions not stalled (a stall whose wait is over is tried again). */
  protected override positions(): Map<number, string> {
    const wait = this.options.stallRetryMs ?? 60_000;
    for (const [partition, stall] of this.stalls)
      if (Date.now() - stall.since >= wait) this.stalls.delete(partition);
    return new Map([...this.checkpoints].filter(([partition]) => !this.stalls.has(partition)));
  }

  /**
   * Commits one batch, then waits out the rest of `minCommitIntervalMs` (events arriving meanwhile
   * join the next batch) unless a partition read came back full: a backlog is projected flat out.
   * False — follow again from the checkpoints — after a conflict or when a partition stalled.
   */
  protected override async handle(batch: StoredEvent[], signal: AbortSignal): Promise<boolean> {
    const started = Date.now();
    if ((await this.commit(batch)) === null) return false;
    const rest = (this.options.minCommitIntervalMs ?? 100) - (Date.now() - started);
    if (rest > 0 && !anyPartitionFull(batch, this.perPartition))
      await sleep(rest, undefined, { signal }).catch(() => undefined);
    return true;
  }

  protected override onFailure(error: unknown): void {
    super.onFailure(error);
    this.options.onError?.(error);
  }

  private async commit(batch: StoredEvent[]): Promise<number | null> {
    // Events at or before this instance's checkpoint were committed already (by catchUp or the loop).
    const fresh = batch.filter(
      (event) =>
        !this.stalls.has(event.partition) &&
        compareStreamIds(event.streamId, this.position(event.partition)) > 0,
    );
    if (fresh.length === 0) return 0;
    try {
      return await this.commitEvents(fresh);
    } catch (error) {
      if (isTransient(error)) throw error;
    }
    // Not transient: an event of the batch cannot be applied. Stop its partition there, go on with the rest.
    const outcome = await isolatePoison(fresh, (events) => this.commitEvents(events), Date.now());
    if (outcome === null) return null;
    for (const stall of outcome.stalls) {
      this.stalls.set(stall.partition, stall);
      this.options.onError?.(new ProjectionStalledError(stall));
    }
    return outcome.stalls.length > 0 ? null : outcome.applied;
  }

  /**
   * One transaction for `events` (all after this instance's checkpoints); null on a checkpoint
   * conflict. Traced as `taskstream.project`, linking the batch's tasks, when tracing is on.
   */
  private commitEvents(fresh: StoredEvent[]): Promise<number | null> {
    const span = startProjectSpan(fresh, this.traces);
    return span ? inSpan(span, () => this.commitUntraced(fresh)) : this.commitUntraced(fresh);
  }

  private async commitUntraced(fresh: StoredEvent[]): Promise<number | null> {
    const last = new Map(fresh.map((event) => [event.partition, event.streamId]));
    const moves: CheckpointMove[] = [...last].map(([partition, next]) => ({
      partition,
      expected: this.position(partition),
      next,
    }));
    const { pool, store } = this.options;
    const target = { pool, store, checkpointKey: this.checkpointKey, cache: this.cache };
    const outcome = await commitBatch(target, fresh, moves);
    if (!outcome) {
      this.conflicts++;
      await this.reload();
      return null;
    }
    for (const move of moves) this.checkpoints.set(move.partition, move.next);
    this.projectedEvents += outcome.applied.length;
    this.committedBatches++;
    this.lagMs = Math.max(0, Date.now() - Math.max(...fresh.map((event) => streamIdTime(event.streamId))));
    for (const wake of [...this.waiters]) wake();
    const newTasks = outcome.applied.reduce((count, event) => count + (event.version === 1 ? 1 : 0), 0);
    this.options.onBatch?.(outcome.applied.length, this.lagMs, newTasks);
    if (outcome.changed.length > 0) this.options.onCommitted?.(outcome.changed);
    // Every commit is announced on the feed channel, even one without feed entries: its moves let a
    // reader see that nothing was missed in between (docs/task-feed.md).
    await this.publish(outcome.changed, { moves, entries: outcome.feed });
    return outcome.applied.length;
  }

  /**
   * One message per batch and channel: the JSON array of the rows it changed on the updates channel,
   * the feed batch on the feed channel, each built and sent only while some process listens (the read API subscribes while GraphQL subscriptions are open). Asking first
   * costs one small round trip per batch; a listener that arrives after the answer missed only rows
   * committed before it subscribed, which it does not wait for.
   */
  private async publish(rows: TaskRow[], feed: FeedBatch): Promise<void> {
    const { redis } = this.options;
    if (!redis) return;
    try {
      const [, rowListeners, , feedListeners] = (await redis.pubsub(
        "NUMSUB",
        this.channel,
        this.feedChannel,
      )) as [string, number, string, number];
      if (Number(rowListeners) === 0 && Number(feedListeners) === 0) {
        this.unheardBatches++;
        return;
      }
      const sends: Promise<number>[] = [];
      if (Number(rowListeners) > 0 && rows.length > 0)
        sends.push(redis.publish(this.channel, JSON.stringify(rows)));
      if (Number(feedListeners) > 0) sends.push(redis.publish(this.feedChannel, JSON.stringify(feed)));
      await Promise.all(sends);
    } catch (error) {
      this.publishFailures++;
      this.options.onError?.(error);
    }
  }

  private async reload(): Promise<void> {
    this.cache.clear();
    this.checkpoints = await loadCheckpoints(
      this.options.pool,
      this.checkpointKey,
      this.options.store.partitions,
    );
    for (const wake of [...this.waiters]) wake();
  }

  private position(partition: number): string {
    return this.checkpoints.get(partition) ?? STREAM_START;
  }
}

function anyPartitionFull(batch: StoredEvent[], perPartition: number): boolean {
  const counts = new Map<number, number>();
  for (const { partition } of batch) {
    const count = (counts.get(partition) ?? 0) + 1;
    if (count >= perPartition) return true;
    counts.set(partition, count);
  }
  return false;
}
