import type { TaskEvent } from "../domain/task/index.ts";

/**
 * The event log: the source of truth. Every change to a task (or a schedule) is an event appended
 * here, atomically and in order per aggregate, checked against the aggregate's version, its
 * idempotency key and the writer's fencing epoch. Two implementations keep one contract
 * (event-log.contract.ts): Redis Streams for real (redis-event-log.ts) and an in-memory twin for
 * unit tests (memory-event-log.ts).
 *
 * The log has a fixed number of partitions; an aggregate lives in one, and a partition's events
 * are totally ordered by their stream ids ("<ms>-<seq>", as Redis makes them).
 */
export interface EventLog<E extends { type: string; data: unknown } = TaskEvent> {
  readonly partitions: number;
  /** Key prefix: keeps logs sharing one Redis apart (tests, the schedule stream). */
  readonly prefix: string;
  /** Whether unfenced appends are copied to the partitions' intakes (docs/dispatcher-intake.md). */
  readonly intake: boolean;
  partitionOf(id: string): number;
  /**
   * Appends `events` to the aggregate's history if it is still at `expectedVersion` (−1: any);
   * rejects with ConcurrencyError, StaleEpochError, or an idempotency answer (`deduplicated`).
   */
  append(id: string, expectedVersion: number, events: E[], options?: AppendOptions): Promise<AppendResult>;
  /** An aggregate's whole history, in order (empty when unknown). */
  readTask(id: string): Promise<StoredOf<E>[]>;
  /** Up to `count` events of a partition after stream id `afterId` ('0' for the beginning). */
  readPartition(partition: number, afterId: string, count: number): Promise<StoredOf<E>[]>;
  /** A partition from `after` (default: its start) to its end as it is now, one page at a time. */
  readAll(partition: number, options?: { after?: string; pageSize?: number }): AsyncIterable<StoredOf<E>[]>;
  /**
   * Follows partitions (their logs, or their intakes) from the given positions, yielding each batch
   * of new events in log order per partition, until `signal` aborts.
   */
  follow(options: FollowOptions): AsyncIterable<StoredOf<E>[]>;
  /** The position of the partition's newest event ('0-0' while it has none). */
  head(partition: number): Promise<string>;
  /** How many entries the partition's log holds now (an estimate of work for progress reports). */
  size(partition: number): Promise<number>;
  /**
   * Saves a snapshot of a partition (opaque to the log: what a reader folded up to a position),
   * fenced by `epoch`; throws StaleEpochError when a newer leader has fenced the partition.
   */
  saveSnapshot(partition: number, epoch: number, snapshot: Buffer): Promise<void>;
  /** The partition's last saved snapshot, or null. */
  loadSnapshot(partition: number): Promise<Buffer | null>;
  /**
   * Raises every partition's fencing epoch to `epoch` and returns the highest epoch the partitions
   * now hold: `epoch` itself when the caller's lease is the newest, higher when it is not.
   */
  fence(epoch: number): Promise<number>;
  /**
   * Claims a partition for a new owner: raises its fencing epoch past every epoch handed out before
   * (to `floor` when that is higher) and returns the new one (docs/partition-ownership.md).
   */
  claim(partition: number, floor?: number): Promise<number>;
  /** The id of the partition's newest intake entry ('0-0' while empty): where to follow it from. */
  intakeHead(partition: number): Promise<string>;
  /** Drops intake entries before `beforeId`, fenced by `epoch`; returns how many were dropped. */
  trimIntake(partition: number, epoch: number, beforeId: string): Promise<number>;
  /**
   * The log position of the oldest event still waiting in the partition's intake (null when it is
   * empty): the leading dispatcher has read every event before it.
   */
  intakeTail(partition: number): Promise<string | null>;
  /**
   * Removes archived aggregates of one partition from the log — their entries and their index —
   * each only if its history still holds exactly `version` events (docs/retention-and-archive.md).
   * Returns, per aggregate, whether it was removed.
   */
  dropArchived(partition: number, archived: { id: string; version: number }[]): Promise<boolean[]>;
}

export interface AppendOptions {
  /** The dispatcher's fencing epoch; absent for the command API's writes. */
  epoch?: number;
  /** Deduplicates a submission (expected version 0) inside the dedup window. */
  idempotencyKey?: string | null;
  /** A hash of the request the key came with, kept with the key to tell a retry from a reuse. */
  requestHash?: string;
}

export type AppendResult =
  | { kind: "appended"; version: number; streamIds: string[] }
  /** `requestHash`: what the key's first request was stored with (null for keys stored without one). */
  | { kind: "deduplicated"; taskId: string; requestHash: string | null };

/** An event as read back from the log. */
export type StoredOf<E> = E & {
  /** The aggregate's id (a task's, or a schedule's). */
  taskId: string;
  /** Its position in the aggregate's history: 1 for the first event. */
  version: number;
  /** Its position in the partition (and, for an intake entry, the event's position in the log). */
  streamId: string;
  partition: number;
  /** The data as the log holds it (JSON text), copied by readers without re-encoding. */
  rawData?: string;
};

export interface FollowOptions {
  /** Partitions to follow, each from the stream id after which to start ('0' = the beginning). */
  from: Map<number, string>;
  /** Most entries per partition per read (default 1000). */
  batchSize?: number;
  /** How long one wait for news lasts before it is asked again, in ms (default 1000). */
  blockMs?: number;
  /** Pause after a read that was not full, in ms (default 0): fewer, larger reads under a trickle. */
  pauseMs?: number;
  signal: AbortSignal;
  /** Entries the caller already holds (by aggregate and version): left out, their data never parsed. */
  skip?: (taskId: string, version: number) => boolean;
  /** The partitions' logs (default), or their intakes (docs/dispatcher-intake.md). */
  streams?: "log" | "intake";
  /** Told the id of the last entry read in a partition, once the batch holding it is yielded. */
  read?: (partition: number, entryId: string) => void;
}
