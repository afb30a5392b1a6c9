import { setTimeout as sleep } from "node:timers/promises";
import type { Redis } from "ioredis";
import type pg from "pg";
import type { EventStore } from "../commands/event-store/event-store.ts";
import { streamIdTime, type StoredEvent } from "../commands/event-store/stream-format.ts";
import { tailPartitions } from "../commands/event-store/tail.ts";
import { compareStreamIds, loadCheckpoints, STREAM_START, type CheckpointMove } from "./checkpoints.ts";
import { commitBatch } from "./commit-batch.ts";
import { taskUpdatesChannel, type TaskRow } from "./task-row.ts";
import { RowCache } from "./row-cache.ts";
import { taskFeedChannel, type FeedBatch } from "./feed/feed-table.ts";
import { isTransient, ProjectionStalledError, stallAt, type StalledPartition } from "./poison.ts";

export interface TasksProjectorOptions {
  store: EventStore;
  /** For reads and PUBLISH; the blocking tail gets a `duplicate()` of it. */
  redis: Redis;
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
  /** After each commit, with the number of events applied and the batch's lag. */
  onBatch?: (events: number, lagMs: number) => void;
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
export class TasksProjector {
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
  private readonly channel: string;
  private readonly feedChannel: string;
  private positions = new Map<number, string>();
  private readonly cache = new RowCache();
  private queue: Promise<unknown> = Promise.resolve();
  private readonly waiters = new Set<() => void>();
  private running: { abort: AbortController; connection: Redis; loop: Promise<void> } | null = null;
  /** Partitions stopped at an event that cannot be applied; the others go on (see poison.ts). */
  private readonly stalls = new Map<number, StalledPartition>();

  constructor(options: TasksProjectorOptions) {
    this.options = options;
    this.checkpointKey = `${options.store.prefix}:${options.name ?? "tasks"}`;
    this.batchSize = options.batchSize ?? 4000;
    this.channel = taskUpdatesChannel(options.store.prefix);
    this.feedChannel = taskFeedChannel(options.store.prefix);
  }

  /** The partitions this instance has stopped at a poison event, with the event and the error. */
  stalled(): StalledPartition[] {
    return [...this.stalls.values()];
  }

  /** Follows the log from the stored checkpoints with blocking reads until `stop()`. */
  async start(): Promise<void> {
    if (this.running) return;
    await this.exclusive(() => this.reload());
    const abort = new AbortController();
    const connection = this.options.redis.duplicate({ enableAutoPipelining: false }); // one blocking read at a time
    this.running = { abort, connection, loop: this.run(connection, abort.signal) };
  }

  /** Stops following the log, after the batch in flight (if any) has committed or rolled back. */
  async stop(): Promise<void> {
    const running = this.running;
    if (!running) return;
    this.running = null;
    running.abort.abort();
    running.connection.disconnect();
    await running.loop;
  }

  /**
   * Projects everything in the log now, then returns the number of events this call applied. A
   * partition stopped at an event that cannot be applied is tried again; if one still stops, the
   * rest is projected and then its ProjectionStalledError is thrown.
   */
  async catchUp(): Promise<number> {
    const { store } = this.options;
    this.stalls.clear();
    await this.exclusive(() => this.reload());
    let applied = 0;
    for (let progressed = true; progressed;) {
      progressed = false;
      for (let partition = 0; partition < store.partitions; partition++) {
        if (this.stalls.has(partition)) continue;
        const events = await store.readPartition(partition, this.position(partition), this.batchSize);
        if (events.length === 0) continue;
        progressed = true;
        applied += (await this.project(events)) ?? 0;
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

  private async run(connection: Redis, signal: AbortSignal): Promise<void> {
    const { store, blockMs, retryMs = 1000, minCommitIntervalMs = 100, onError } = this.options;
    const perPartition = Math.max(1, Math.ceil(this.batchSize / store.partitions));
    while (!signal.aborted) {
      try {
        this.retryStalls();
        const from = new Map([...this.positions].filter(([partition]) => !this.stalls.has(partition)));
        if (from.size === 0) {
          await sleep(retryMs, undefined, { signal }).catch(() => undefined);
          continue;
        }
        const tail = tailPartitions(store, connection, { from, batchSize: perPartition, blockMs, signal });
        for await (const batch of tail) {
          const started = Date.now();
          // null: a conflict, or a partition stalled: follow again from the checkpoints, without it.
          if ((await this.project(batch)) === null) break;
          // A partition read that came back full means a backlog: no pause until it is gone.
          const rest = minCommitIntervalMs - (Date.now() - started);
          if (rest > 0 && !anyPartitionFull(batch, perPartition))
            await sleep(rest, undefined, { signal }).catch(() => undefined);
        }
      } catch (error) {
        if (signal.aborted) return;
        onError?.(error);
        await sleep(retryMs, undefined, { signal }).catch(() => undefined);
      }
    }
  }

  /**
   * Commits one batch; returns the events applied, or null when another instance got there first
   * or a partition of the batch stalled at an event that cannot be applied.
   */
  private project(batch: StoredEvent[]): Promise<number | null> {
    return this.exclusive(() => this.commit(batch));
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
      return this.isolate(fresh);
    }
  }

  /**
   * A batch that failed for a reason other than a transient one: each partition is committed on its
   * own, and a partition that still fails is split until the first event that cannot be applied is
   * found. Everything before that event is committed; the partition stops there (loudly: onError
   * with the event's position, `stalled()`), and the other partitions go on.
   */
  private async isolate(events: StoredEvent[]): Promise<number | null> {
    const byPartition = new Map<number, StoredEvent[]>();
    for (const event of events) {
      const list = byPartition.get(event.partition);
      if (list) list.push(event);
      else byPartition.set(event.partition, [event]);
    }
    let applied = 0;
    let stalled = false;
    for (const partitionEvents of byPartition.values()) {
      const outcome = await this.commitUntilPoison(partitionEvents);
      if (outcome === null) return null;
      applied += outcome.applied;
      if (outcome.poison) {
        stalled = true;
        const stall = stallAt(outcome.poison.event, outcome.poison.error, Date.now());
        this.stalls.set(stall.partition, stall);
        this.options.onError?.(new ProjectionStalledError(stall));
      }
    }
    return stalled ? null : applied;
  }

  /** Commits `events` (one partition, log order) up to the first one that cannot be applied. */
  private async commitUntilPoison(
    events: StoredEvent[],
  ): Promise<{ applied: number; poison?: { event: StoredEvent; error: unknown } } | null> {
    try {
      const applied = await this.commitEvents(events);
      return applied === null ? null : { applied };
    } catch (error) {
      if (isTransient(error)) throw error;
      if (events.length === 1) return { applied: 0, poison: { event: events[0]!, error } };
    }
    const half = Math.ceil(events.length / 2);
    const first = await this.commitUntilPoison(events.slice(0, half));
    if (first === null || first.poison) return first;
    const second = await this.commitUntilPoison(events.slice(half));
    return second === null ? null : { ...second, applied: first.applied + second.applied };
  }

  /** Lets stalled partitions whose wait is over be tried again (they stall again if still poisoned). */
  private retryStalls(): void {
    const wait = this.options.stallRetryMs ?? 60_000;
    for (const [partition, stall] of this.stalls)
      if (Date.now() - stall.since >= wait) this.stalls.delete(partition);
  }

  /** One transaction for `events` (all after this instance's checkpoints); null on a checkpoint conflict. */
  private async commitEvents(fresh: StoredEvent[]): Promise<number | null> {
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
    for (const move of moves) this.positions.set(move.partition, move.next);
    this.projectedEvents += outcome.applied.length;
    this.committedBatches++;
    this.lagMs = Math.max(0, Date.now() - Math.max(...fresh.map((event) => streamIdTime(event.streamId))));
    for (const wake of [...this.waiters]) wake();
    this.options.onBatch?.(outcome.applied.length, this.lagMs);
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
    try {
      const [, rowListeners, , feedListeners] = (await this.options.redis.pubsub(
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
        sends.push(this.options.redis.publish(this.channel, JSON.stringify(rows)));
      if (Number(feedListeners) > 0)
        sends.push(this.options.redis.publish(this.feedChannel, JSON.stringify(feed)));
      await Promise.all(sends);
    } catch (error) {
      this.publishFailures++;
      this.options.onError?.(error);
    }
  }

  private async reload(): Promise<void> {
    this.cache.clear();
    this.positions = await loadCheckpoints(
      this.options.pool,
      this.checkpointKey,
      this.options.store.partitions,
    );
    for (const wake of [...this.waiters]) wake();
  }

  private position(partition: number): string {
    return this.positions.get(partition) ?? STREAM_START;
  }

  /** Runs `work` after every earlier batch of this instance: one transaction at a time. */
  private exclusive<T>(work: () => Promise<T>): Promise<T> {
    const result = this.queue.then(work, work);
    this.queue = result.catch(() => undefined);
    return result;
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
