import { EventEmitter, on } from "node:events";
import {
  ConcurrencyError,
  eventFromStored,
  partitionOfTaskId,
  storedEventData,
  StaleEpochError,
  TaskstreamError,
  type TaskEvent,
} from "../domain/task/index.ts";
import type { AppendOptions, AppendResult, EventLog, FollowOptions, StoredOf } from "./event-log.ts";
import { compareStreamIds } from "./stream-ids.ts";

interface Entry {
  id: string;
  taskId: string;
  version: number;
  type: string;
  data: string;
  /** For an intake entry: the event's id in the log. */
  logId?: string;
}

export interface MemoryEventLogOptions {
  partitions: number;
  prefix?: string;
  dedupWindowMs?: number;
  intake?: boolean;
  /** The clock that stamps stream ids and expires idempotency keys (tests move it). */
  now?: () => number;
}

/**
 * The event log in memory, for unit tests: the same contract as the Redis log
 * (event-log.contract.ts runs against both) — per-aggregate version checks, idempotency keys with a
 * window, fencing epochs per partition, intake copies of unfenced appends, stream ids in the Redis
 * format — without a server. Data is kept as JSON text and parsed on every read, as a real reader
 * would, so a test cannot share objects with the log by accident.
 */
export class MemoryEventLog<E extends { type: string; data: unknown } = TaskEvent> implements EventLog<E> {
  readonly partitions: number;
  readonly prefix: string;
  readonly intake: boolean;
  private readonly dedupWindowMs: number;
  private readonly now: () => number;
  private readonly logs: Entry[][];
  private readonly intakes: Entry[][];
  private readonly epochs: number[];
  private readonly lastIds: [number, number][];
  private readonly histories = new Map<string, Entry[]>();
  private readonly keys = new Map<string, { value: string; expiresAt: number }>();
  private readonly appended = new EventEmitter();
  private readonly snapshots = new Map<number, Buffer>();

  constructor(options: MemoryEventLogOptions) {
    this.partitions = options.partitions;
    this.prefix = options.prefix ?? "ts";
    this.intake = options.intake ?? true;
    this.dedupWindowMs = options.dedupWindowMs ?? 24 * 3600_000;
    this.now = options.now ?? Date.now;
    this.logs = Array.from({ length: this.partitions }, () => []);
    this.intakes = Array.from({ length: this.partitions }, () => []);
    this.epochs = new Array<number>(this.partitions).fill(0);
    this.lastIds = Array.from({ length: this.partitions }, () => [0, -1]);
    this.appended.setMaxListeners(0);
  }

  partitionOf(id: string): number {
    return partitionOfTaskId(id, this.partitions);
  }

  append(
    id: string,
    expectedVersion: number,
    events: E[],
    options: AppendOptions = {},
  ): Promise<AppendResult> {
    // Applied at once, in call order (the Redis log keeps call order per partition too).
    return new Promise((resolve) => resolve(this.appendNow(id, expectedVersion, events, options)));
  }

  private appendNow(id: string, expectedVersion: number, events: E[], options: AppendOptions): AppendResult {
    if (events.length === 0) throw new TaskstreamError("VALIDATION", "nothing to append");
    const partition = this.partitionOf(id);
    if (options.epoch !== undefined) {
      const highest = this.epochs[partition]!;
      if (options.epoch < highest) throw new StaleEpochError(options.epoch, highest);
      this.epochs[partition] = options.epoch;
    }
    const history = this.histories.get(id) ?? [];
    // The idempotency key first: a submission re-sent after its reply was lost is a duplicate.
    const key = options.idempotencyKey ? this.keys.get(options.idempotencyKey) : undefined;
    if (key && key.expiresAt > this.now()) {
      const [taskId = "", requestHash] = key.value.split(" ");
      return { kind: "deduplicated", taskId, requestHash: requestHash ?? null };
    }
    if (expectedVersion >= 0 && history.length !== expectedVersion)
      throw new ConcurrencyError(id, expectedVersion, history.length);
    if (options.idempotencyKey) {
      const value = options.requestHash ? `${id} ${options.requestHash}` : id;
      this.keys.set(options.idempotencyKey, { value, expiresAt: this.now() + this.dedupWindowMs });
    }
    const streamIds: string[] = [];
    for (const event of events) {
      const entry: Entry = {
        id: this.nextId(partition),
        taskId: id,
        version: history.length + 1,
        type: event.type,
        data: JSON.stringify(storedEventData(event as unknown as TaskEvent)),
      };
      history.push(entry);
      this.logs[partition]!.push(entry);
      if (this.intake && options.epoch === undefined)
        this.intakes[partition]!.push({ ...entry, id: this.nextId(partition), logId: entry.id });
      streamIds.push(entry.id);
    }
    this.histories.set(id, history);
    this.appended.emit("append");
    return { kind: "appended", version: history.length, streamIds };
  }

  readTask(id: string): Promise<StoredOf<E>[]> {
    const partition = this.partitionOf(id);
    return Promise.resolve((this.histories.get(id) ?? []).map((entry) => stored<E>(entry, partition)));
  }

  size(partition: number): Promise<number> {
    return Promise.resolve(this.logs[partition]?.length ?? 0);
  }

  readPartition(partition: number, afterId: string, count: number): Promise<StoredOf<E>[]> {
    return Promise.resolve(
      this.after(this.logs[partition] ?? [], afterId, count).map((e) => stored<E>(e, partition)),
    );
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

  async *follow(options: FollowOptions): AsyncIterable<StoredOf<E>[]> {
    const positions = new Map(options.from);
    const batchSize = options.batchSize ?? 1000;
    const source = options.streams === "intake" ? this.intakes : this.logs;
    const news = on(this.appended, "append", { signal: options.signal });
    try {
      while (!options.signal.aborted) {
        const batch: StoredOf<E>[] = [];
        const read: [number, string][] = [];
        for (const [partition, position] of positions) {
          const entries = this.after(source[partition] ?? [], position, batchSize);
          for (const entry of entries) {
            if (options.skip?.(entry.taskId, entry.version)) continue;
            const event = stored<E>(entry, partition);
            if (entry.logId) event.streamId = entry.logId;
            batch.push(event);
          }
          const last = entries.at(-1);
          if (last) {
            positions.set(partition, last.id);
            read.push([partition, last.id]);
          }
        }
        if (batch.length > 0) yield batch;
        for (const [partition, id] of read) options.read?.(partition, id);
        if (read.length === 0) await news.next();
      }
    } catch (error) {
      if (!options.signal.aborted) throw error;
    } finally {
      await news.return?.();
    }
  }

  fence(epoch: number): Promise<number> {
    for (let p = 0; p < this.partitions; p++) this.epochs[p] = Math.max(this.epochs[p]!, epoch);
    return Promise.resolve(Math.max(...this.epochs));
  }

  claim(partition: number, floor = 0): Promise<number> {
    const epoch = Math.max(this.epochs[partition]! + 1, floor);
    this.epochs[partition] = epoch;
    return Promise.resolve(epoch);
  }

  intakeHead(partition: number): Promise<string> {
    return Promise.resolve(this.intakes[partition]?.at(-1)?.id ?? "0-0");
  }

  trimIntake(partition: number, epoch: number, beforeId: string): Promise<number> {
    const highest = this.epochs[partition]!;
    if (epoch < highest) return Promise.reject(new StaleEpochError(epoch, highest));
    const intake = this.intakes[partition]!;
    const keep = intake.findIndex((entry) => compareStreamIds(entry.id, beforeId) >= 0);
    const dropped = keep < 0 ? intake.length : keep;
    intake.splice(0, dropped);
    return Promise.resolve(dropped);
  }

  head(partition: number): Promise<string> {
    return Promise.resolve(this.logs[partition]?.at(-1)?.id ?? "0-0");
  }

  saveSnapshot(partition: number, epoch: number, snapshot: Buffer): Promise<void> {
    const highest = this.epochs[partition]!;
    if (epoch < highest) return Promise.reject(new StaleEpochError(epoch, highest));
    this.snapshots.set(partition, Buffer.from(snapshot));
    return Promise.resolve();
  }

  loadSnapshot(partition: number): Promise<Buffer | null> {
    const saved = this.snapshots.get(partition);
    return Promise.resolve(saved ? Buffer.from(saved) : null);
  }

  intakeTail(partition: number): Promise<string | null> {
    return Promise.resolve(this.intakes[partition]?.[0]?.logId ?? null);
  }

  dropArchived(partition: number, archived: { id: string; version: number }[]): Promise<boolean[]> {
    return Promise.resolve(
      archived.map(({ id, version }) => {
        const history = this.histories.get(id);
        if (!history || history.length !== version || version === 0) return false;
        const gone = new Set(history.map((entry) => entry.id));
        const log = this.logs[partition]!;
        this.logs[partition] = log.filter((entry) => !gone.has(entry.id));
        this.histories.delete(id);
        return true;
      }),
    );
  }

  /** How many entries a partition's intake holds (tests). */
  intakeLength(partition: number): number {
    return this.intakes[partition]?.length ?? 0;
  }

  private after(entries: Entry[], afterId: string, count: number): Entry[] {
    let start = entries.findIndex((entry) => compareStreamIds(entry.id, afterId) > 0);
    if (start < 0) start = entries.length;
    return entries.slice(start, start + count);
  }

  /** The next stream id of a partition: the clock's milliseconds, a sequence within one. */
  private nextId(partition: number): string {
    const last = this.lastIds[partition]!;
    const ms = Math.max(this.now(), last[0]);
    const seq = ms === last[0] ? last[1] + 1 : 0;
    this.lastIds[partition] = [ms, seq];
    return `${ms}-${seq}`;
  }
}

function stored<E>(entry: Entry, partition: number): StoredOf<E> {
  const event = eventFromStored({
    taskId: entry.taskId,
    version: entry.version,
    type: entry.type,
    data: JSON.parse(entry.data) as unknown,
    rawData: entry.data,
    streamId: entry.id,
    partition,
  });
  return event as unknown as StoredOf<E>;
}
