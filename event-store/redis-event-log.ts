import { readFileSync } from "node:fs";
import { TaskstreamError, partitionOfTaskId, storedEventData, type TaskEvent } from "../domain/task/index.ts";
import { idempotencyKey, partitionKeys, taskIndexKey } from "./keys.ts";
import { parseEntry, type StoredEvent } from "./stream-format.ts";
import { AppendQueue, type QueuedAppend } from "./append-queue.ts";
import { endWithOutcome, inBatchSpan, startAppendSpan } from "./append-tracing.ts";
import type { AppendOptions, AppendResult, EventLog, FollowOptions, StoredOf } from "./event-log.ts";
import { followPartitions } from "./tail.ts";
import { duplicateConnection, isCluster, masterNodes, type RedisClient } from "./redis-client.ts";
import { luaPreamble, REPLY, replyError } from "./reply-codes.ts";

const lua = (path: string) => readFileSync(new URL(`./lua/${path}`, import.meta.url), "utf8");
/** A script of lua/, with the reply codes defined (reply-codes.ts) and the task index's functions. */
const script = (name: string) => luaPreamble() + lua("include/task-index.lua") + lua(name);

/** Most events of one task read by one script call. */
const READ_TASK_PAGE = 200;

/** The append script's answer for one task: code, then version or task id, then stream ids. */
type TaskReply = (string | number)[];
type ScriptedRedis = RedisClient & ScriptCommands;
interface ScriptCommands {
  tsAppendBatch(...args: (string | number)[]): Promise<[number, ...(TaskReply | string)[]]>;
  tsReadTask(...args: string[]): Promise<[number, ...(string | string[])[]]>;
  tsFence(key: string, epoch: number): Promise<string>;
  tsClaim(key: string, floor: number): Promise<string>;
  tsDropArchived(...args: (string | number)[]): Promise<number[]>;
  tsSaveSnapshot(
    epochKey: string,
    snapshotKey: string,
    epoch: number,
    snapshot: Buffer,
  ): Promise<[number, string]>;
  tsTrimIntake(
    epochKey: string,
    intakeKey: string,
    epoch: number,
    beforeId: string,
  ): Promise<[number, string | number]>;
}

export interface EventStoreOptions {
  partitions: number;
  /** Key prefix; tests use their own to stay apart. */
  prefix?: string;
  /** How long an idempotency key answers with its first task (default 24 h). */
  dedupWindowMs?: number;
  /**
   * Whether unfenced appends (the command API's) are also copied to each partition's intake, which
   * the leading dispatcher follows instead of the whole log (default true; docs/dispatcher-intake.md).
   * Only a log that no dispatcher follows turns it off.
   */
  intake?: boolean;
  /**
   * Replicas that must hold an append before it is acknowledged (WAIT after each script call, on
   * the connection that ran it; default 0: acknowledged once the master has it). See
   * docs/redis-cluster.md for what it does and does not guarantee.
   */
  waitReplicas?: number;
  /** How long an append waits for its replicas before it is answered UNAVAILABLE (default 1000 ms). */
  waitTimeoutMs?: number;
}

/**
 * The event log on Redis Streams: a fixed number of partition streams, every append atomic, in a
 * Lua script that checks the task's version, the idempotency key and the writer's epoch.
 * Appends to one partition share script calls: group commit (see append-queue.ts).
 * Generic over the event type so other aggregates (schedules) keep their own streams; the stored
 * format is the same whatever `E` is.
 */
export class RedisEventLog<E extends { type: string; data: unknown } = TaskEvent> implements EventLog<E> {
  readonly partitions: number;
  readonly prefix: string;
  readonly dedupWindowMs: number;
  readonly intake: boolean;
  readonly waitReplicas: number;
  readonly waitTimeoutMs: number;
  private readonly redis: ScriptedRedis;
  private readonly queue = new AppendQueue((partition, epoch, appends) =>
    this.appendBatch(partition, epoch, appends),
  );

  constructor(redis: RedisClient, options: EventStoreOptions) {
    this.partitions = options.partitions;
    this.prefix = options.prefix ?? "ts";
    this.dedupWindowMs = options.dedupWindowMs ?? 24 * 3600_000;
    this.intake = options.intake ?? true;
    this.waitReplicas = options.waitReplicas ?? 0;
    this.waitTimeoutMs = options.waitTimeoutMs ?? 1000;
    this.redis = redis as ScriptedRedis;
    if (typeof this.redis.tsAppendBatch !== "function") {
      // A script whose key count varies is named in VARIABLE_KEY_SCRIPTS (cluster routing).
      redis.defineCommand("tsAppendBatch", { lua: script("append-batch.lua") });
      redis.defineCommand("tsReadTask", { numberOfKeys: 2, lua: script("read-task-2.lua") });
      redis.defineCommand("tsFence", { numberOfKeys: 1, lua: script("fence-1.lua") });
      redis.defineCommand("tsClaim", { numberOfKeys: 1, lua: script("claim-1.lua") });
      redis.defineCommand("tsTrimIntake", { numberOfKeys: 2, lua: script("trim-intake-2.lua") });
      redis.defineCommand("tsDropArchived", { lua: script("drop-archived.lua") });
      redis.defineCommand("tsSaveSnapshot", { numberOfKeys: 2, lua: script("save-snapshot-2.lua") });
    }
  }

  /** When Redis last refused an append for lack of memory (null once an append succeeds again). */
  refusedFullAt: number | null = null;

  /**
   * Why Redis would not take an append, for the caller, as UNAVAILABLE (retry later): out of memory
   * (`maxmemory` reached; the script was refused before it ran, so nothing is half-written), or no
   * answer from the node (lost connection, a cluster failing over: the write may or may not be kept,
   * so the caller retries with its idempotency key).
   */
  private refusal(error: unknown): unknown {
    if (!(error instanceof Error) || error instanceof TaskstreamError) return error;
    if (!/^OOM /.test(error.message))
      return new TaskstreamError(
        "UNAVAILABLE",
        `the event log did not confirm the write (${error.message}); retry with the same idempotency key`,
      );
    this.refusedFullAt = Date.now();
    return new TaskstreamError(
      "UNAVAILABLE",
      "the event log is full: Redis reached its maxmemory and refused the write; nothing was written, retry later",
    );
  }

  /**
   * Whether Redis can take writes: throws with the reason when its memory is at `maxmemory` or an
   * append was refused for memory in the last `recentMs` (readiness).
   */
  async checkWritable(recentMs = 5000): Promise<void> {
    for (const node of await masterNodes(this.redis)) {
      const info = await node.info("memory");
      const field = (name: string) => Number(new RegExp(`^${name}:(\\d+)`, "m").exec(info)?.[1] ?? 0);
      const max = field("maxmemory");
      const used = field("used_memory");
      const where = isCluster(this.redis) ? ` (${node.options.host}:${node.options.port})` : "";
      if (max > 0 && used >= max)
        throw new Error(`Redis is full${where}: ${used} of ${max} bytes (maxmemory) used`);
    }
    if (this.refusedFullAt !== null && Date.now() - this.refusedFullAt < recentMs)
      throw new Error("Redis refused an append for lack of memory in the last seconds");
  }

  /**
   * Records the partition count on the log's first use and refuses a different one later: tasks,
   * idempotency keys and epochs are placed by partition, so a process started with another count
   * would miss keys (duplicates) and tasks (lost). Throws with the fix when the counts differ.
   */
  async checkLayout(): Promise<void> {
    const key = `${this.prefix}:layout:partitions`;
    if ((await this.redis.exists(key)) === 0 && (await this.redis.xlen(this.streamKey(0))) > 0)
      // A log with events but no recorded layout was written before the layout was recorded, in
      // the first format (a list per task): this version reads only the task index of keys.ts.
      throw new TaskstreamError(
        "ILLEGAL_STATE",
        `the log "${this.prefix}" was written by Taskstream 0.1, whose key layout this version does not read: ` +
          "start with an empty log (npm run services -- reset, or another TASKSTREAM_PREFIX)",
      );
    await this.redis.set(key, String(this.partitions), "NX");
    const stored = Number(await this.redis.get(key));
    if (stored !== this.partitions)
      throw new TaskstreamError(
        "ILLEGAL_STATE",
        `the log "${this.prefix}" has ${stored} partitions but this process was started with ${this.partitions}: ` +
          `start it with TASKSTREAM_PARTITIONS=${stored} (the count cannot change once the log exists)`,
      );
  }

  partitionOf(taskId: string): number {
    return partitionOfTaskId(taskId, this.partitions);
  }

  streamKey(partition: number): string {
    return partitionKeys(partition, this.prefix).events;
  }

  /** The partition's intake: the unfenced writers' events, for the leading dispatcher. */
  intakeKey(partition: number): string {
    return partitionKeys(partition, this.prefix).intake;
  }

  /**
   * Appends `events` to the task's history if it is still at `expectedVersion` (−1: any). Appends
   * to one partition share script calls (group commit, see AppendQueue); each is checked on its own.
   */
  append(
    taskId: string,
    expectedVersion: number,
    events: E[],
    options: AppendOptions = {},
  ): Promise<AppendResult> {
    if (events.length === 0) return Promise.reject(new TaskstreamError("VALIDATION", "nothing to append"));
    const fields: string[] = [];
    for (const event of events)
      fields.push(event.type, JSON.stringify(storedEventData(event as unknown as TaskEvent)));
    const idemKey = options.idempotencyKey
      ? idempotencyKey(options.idempotencyKey, this.partitions, this.prefix)
      : null;
    const partition = this.partitionOf(taskId);
    const span = startAppendSpan(taskId, partition, events, options.epoch);
    return new Promise((resolve, reject) => {
      const requestHash = options.requestHash ?? "";
      const append: QueuedAppend = { taskId, expectedVersion, fields, idemKey, requestHash, resolve, reject };
      if (span) {
        append.span = span;
        endWithOutcome(append, span);
      }
      this.queue.push(partition, options.epoch, append);
    });
  }

  private async appendBatch(
    partition: number,
    epoch: number | undefined,
    appends: QueuedAppend[],
  ): Promise<void> {
    const keys = partitionKeys(partition, this.prefix);
    const keyArgs: string[] = [keys.events, keys.epoch, keys.intake];
    const announce = this.intake && epoch === undefined ? 1 : 0;
    const args: (string | number)[] = [epoch ?? "", this.dedupWindowMs, appends.length, announce];
    for (const append of appends) {
      const index = taskIndexKey(append.taskId, this.partitions, this.prefix);
      keyArgs.push(index, append.idemKey ?? index);
      args.push(
        append.taskId,
        append.expectedVersion,
        append.idemKey ? 1 : 0,
        append.requestHash,
        append.fields.length / 2,
      );
      for (const field of append.fields) args.push(field);
    }
    let reply: Awaited<ReturnType<ScriptedRedis["tsAppendBatch"]>>;
    try {
      reply = await inBatchSpan(partition, appends, () =>
        this.replicated((redis) => redis.tsAppendBatch(keyArgs.length, ...keyArgs, ...args)),
      );
      this.refusedFullAt = null;
    } catch (error) {
      const refusal = this.refusal(error);
      for (const append of appends) append.reject(refusal);
      return;
    }
    if (Number(reply[0]) === REPLY.STALE_EPOCH) {
      const error = replyError(REPLY.STALE_EPOCH, String(reply[1]), { epoch });
      for (const append of appends) append.reject(error);
      return;
    }
    appends.forEach((append, i) => {
      const result = reply[i + 1];
      if (!Array.isArray(result)) {
        append.reject(unexpected(reply));
        return;
      }
      settle(append, result);
    });
  }

  /**
   * Runs one write; with `waitReplicas`, sends WAIT right behind it in one pipeline — the same
   * connection, so WAIT covers that write — and throws UNAVAILABLE when too few replicas confirm it
   * within the timeout (the write may or may not survive a failover: the caller retries, with its
   * idempotency key).
   */
  private async replicated<T>(write: (redis: ScriptedRedis) => Promise<T>): Promise<T> {
    if (this.waitReplicas === 0) return write(this.redis);
    const pipeline = this.redis.pipeline();
    void write(pipeline as unknown as ScriptedRedis);
    pipeline.call("WAIT", this.waitReplicas, this.waitTimeoutMs);
    const results = (await pipeline.exec()) ?? [];
    const [[writeError, reply] = [null, null], [waitError, acknowledged] = [null, 0]] = results;
    if (writeError) {
      if (isCluster(this.redis) && /^MOVED /.test(writeError.message)) this.redis.refreshSlotsCache();
      throw writeError;
    }
    if (waitError || Number(acknowledged) < this.waitReplicas)
      throw new TaskstreamError(
        "UNAVAILABLE",
        `the write was not confirmed by ${this.waitReplicas} Redis replica(s) within ${this.waitTimeoutMs} ms` +
          `${waitError ? ` (${waitError.message})` : ` (${Number(acknowledged)} confirmed)`}; ` +
          "it may or may not be kept: retry with the same idempotency key",
      );
    return reply as T;
  }

  /**
   * Raises every partition's fencing epoch to `epoch` (a new leader's first act). Returns the
   * highest epoch now held: higher than `epoch` when the caller's lease is not the newest.
   */
  async fence(epoch: number): Promise<number> {
    const partitions = Array.from({ length: this.partitions }, (_, p) => p);
    const highest = await Promise.all(
      partitions.map((p) =>
        this.replicated((redis) => redis.tsFence(partitionKeys(p, this.prefix).epoch, epoch)),
      ),
    );
    return Math.max(...highest.map(Number));
  }

  async claim(partition: number, floor = 0): Promise<number> {
    const key = partitionKeys(partition, this.prefix).epoch;
    return Number(await this.replicated((redis) => redis.tsClaim(key, floor)));
  }

  /** The id of the partition's newest intake entry ('0-0' while it is empty): where to follow it from. */
  async intakeHead(partition: number): Promise<string> {
    const [newest] = (await this.redis.xrevrange(this.intakeKey(partition), "+", "-", "COUNT", 1)) as [
      string,
      string[],
    ][];
    return newest?.[0] ?? "0-0";
  }

  /**
   * Drops the partition's intake entries before `beforeId` (the reader has them), fenced by the
   * dispatcher's epoch: throws StaleEpochError when a newer leader has fenced the partition.
   * Returns how many entries were dropped.
   */
  async trimIntake(partition: number, epoch: number, beforeId: string): Promise<number> {
    const keys = partitionKeys(partition, this.prefix);
    const [code, value] = await this.redis.tsTrimIntake(keys.epoch, keys.intake, epoch, beforeId);
    if (Number(code) !== REPLY.OK) throw replyError(Number(code), value, { epoch });
    return Number(value);
  }

  async *readAll(
    partition: number,
    options: { after?: string; pageSize?: number } = {},
  ): AsyncIterable<StoredOf<E>[]> {
    const pageSize = options.pageSize ?? 5000;
    for (let after = options.after ?? "0"; ;) {
      const page = await this.readPartition(partition, after, pageSize);
      if (page.length > 0) yield page;
      if (page.length < pageSize) return;
      after = page.at(-1)!.streamId;
    }
  }

  /**
   * Follows with blocking reads on connections of their own (a blocked connection can serve nothing
   * else; on a cluster, one per partition), closed when the signal aborts or the caller stops iterating.
   */
  follow(options: FollowOptions): AsyncIterable<StoredOf<E>[]> {
    const open = () => duplicateConnection(this.redis, { enableAutoPipelining: false });
    return followPartitions(this, open, { ...options, split: isCluster(this.redis) }) as AsyncIterable<
      StoredOf<E>[]
    >;
  }

  async head(partition: number): Promise<string> {
    const [newest] = (await this.redis.xrevrange(this.streamKey(partition), "+", "-", "COUNT", 1)) as [
      string,
      string[],
    ][];
    return newest?.[0] ?? "0-0";
  }

  size(partition: number): Promise<number> {
    return this.redis.xlen(this.streamKey(partition));
  }

  async saveSnapshot(partition: number, epoch: number, snapshot: Buffer): Promise<void> {
    const keys = partitionKeys(partition, this.prefix);
    const [code, value] = await this.redis.tsSaveSnapshot(keys.epoch, keys.snapshot, epoch, snapshot);
    if (Number(code) !== REPLY.OK) throw replyError(Number(code), value, { epoch });
  }

  loadSnapshot(partition: number): Promise<Buffer | null> {
    return this.redis.getBuffer(partitionKeys(partition, this.prefix).snapshot);
  }

  async intakeTail(partition: number): Promise<string | null> {
    const [oldest] = (await this.redis.xrange(this.intakeKey(partition), "-", "+", "COUNT", 1)) as [
      string,
      string[],
    ][];
    if (!oldest) return null;
    const fields = oldest[1];
    const at = fields.lastIndexOf("id");
    return at >= 0 && at % 2 === 0 ? (fields[at + 1] ?? null) : oldest[0];
  }

  async dropArchived(partition: number, archived: { id: string; version: number }[]): Promise<boolean[]> {
    if (archived.length === 0) return [];
    const keys = [
      this.streamKey(partition),
      ...archived.map((a) => taskIndexKey(a.id, this.partitions, this.prefix)),
    ];
    const args = [archived.length, ...archived.flatMap((a) => [a.id, a.version])];
    const [code, ...results] = await this.redis.tsDropArchived(keys.length, ...keys, ...args);
    if (Number(code) !== REPLY.OK) throw replyError(Number(code), String(results[0]), {});
    return results.map((removed) => Number(removed) === 1);
  }

  /** A task's whole history, in order (empty when the task is unknown), read a page at a time. */
  async readTask(taskId: string): Promise<StoredOf<E>[]> {
    const partition = this.partitionOf(taskId);
    const keys = [this.streamKey(partition), taskIndexKey(taskId, this.partitions, this.prefix)];
    const events: StoredEvent[] = [];
    for (let first = 0; ; first += READ_TASK_PAGE) {
      const [ids, ...flat] = await this.redis.tsReadTask(
        ...keys,
        taskId,
        String(first),
        String(READ_TASK_PAGE),
      );
      for (let i = 0; i + 1 < flat.length; i += 2)
        events.push(parseEntry(partition, [flat[i] as string, flat[i + 1] as string[]]));
      if (Number(ids) < READ_TASK_PAGE) return events as unknown as StoredOf<E>[];
    }
  }

  /** Up to `count` events of a partition after stream id `afterId` ('0' for the beginning). */
  async readPartition(partition: number, afterId: string, count: number): Promise<StoredOf<E>[]> {
    const entries = (await this.redis.xrange(
      this.streamKey(partition),
      `(${afterId}`,
      "+",
      "COUNT",
      count,
    )) as [string, string[]][];
    return entries.map((entry) => parseEntry(partition, entry)) as unknown as StoredOf<E>[];
  }
}

function settle(append: QueuedAppend, reply: TaskReply): void {
  const [code, value] = reply;
  switch (Number(code)) {
    case REPLY.OK:
      append.resolve({ kind: "appended", version: Number(value), streamIds: reply.slice(2).map(String) });
      return;
    case REPLY.VERSION_CONFLICT:
      append.reject(replyError(REPLY.VERSION_CONFLICT, value!, append));
      return;
    case REPLY.DEDUPLICATED: {
      const [taskId = "", requestHash] = String(value).split(" ");
      append.resolve({ kind: "deduplicated", taskId, requestHash: requestHash ?? null });
      return;
    }
    default:
      append.reject(unexpected(reply));
  }
}

function unexpected(reply: unknown): TaskstreamError {
  return new TaskstreamError("UNAVAILABLE", `unexpected reply from append script: ${JSON.stringify(reply)}`);
}
