import type pg from "pg";
import { fold, isTerminal, TERMINAL_EVENTS } from "../../domain/task/index.ts";
import type { Logger } from "../../observability/log.ts";
import type { EventLog } from "../event-log.ts";
import { compareStreamIds, streamIdBefore, streamIdTime } from "../stream-ids.ts";
import type { ArchivedTask, ArchiveStore } from "./archive-store.ts";

export interface ArchiverOptions {
  /** The task log. */
  log: EventLog;
  archive: ArchiveStore;
  /** The read model's database: projector checkpoints, and the archiver's lock. */
  pool: pg.Pool;
  /** A task is archived this long after it finished (0: as soon as it is safe). */
  retentionMs: number;
  /** Archived days older than this are dropped whole; 0 keeps them forever. */
  archiveRetentionDays: number;
  /** Pause between rounds, in ms. */
  intervalMs: number;
  /** Most tasks archived per partition per round (one transaction, one script call). */
  batchSize?: number;
  logger: Logger;
  /** After each round that archived something, with how many tasks. */
  onArchived?: (tasks: number) => void;
  now?: () => number;
}

export interface RoundOutcome {
  archived: number;
  /** Candidates left for a later round (not yet passed by every reader, or changed meanwhile). */
  deferred: number;
  /** A partition had more to archive than one round takes: the next round runs at once. */
  behind: boolean;
}

/**
 * Moves finished tasks out of Redis (docs/retention-and-archive.md). Each round, per partition, it
 * scans the log from its cursor for terminal events older than the retention period and before
 * every reader's position — every projector's checkpoint and the oldest event waiting in the
 * dispatcher's intake — then, for those tasks: (1) reads each whole history and checks it is still
 * terminal, (2) writes it to the PostgreSQL archive in one committed transaction, (3) removes it
 * from Redis only if its history is unchanged, (4) moves its cursor. Only one archiver works at a
 * time (a PostgreSQL advisory lock); a crash at any step leaves work a later round completes.
 */
export class Archiver {
  private readonly options: ArchiverOptions;
  private readonly now: () => number;
  private readonly batchSize: number;
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<unknown> = Promise.resolve();
  private stopped = false;

  constructor(options: ArchiverOptions) {
    this.options = options;
    this.now = options.now ?? Date.now;
    this.batchSize = options.batchSize ?? 500;
  }

  /**
   * Runs a round every `intervalMs` until `stop()`; while a round leaves work behind (a partition
   * had more than `batchSize` tasks to archive), the next one follows at once, so archiving keeps
   * pace with any finishing rate instead of `batchSize × partitions` tasks per interval.
   */
  start(): void {
    this.stopped = false;
    const tick = () => {
      if (this.stopped) return;
      let behind = false;
      this.running = this.runOnce()
        .then((outcome) => (behind = outcome.behind))
        .catch((error: unknown) => this.options.logger.warn({ err: error }, "archive round failed; retrying"))
        .finally(() => {
          if (!this.stopped) this.timer = setTimeout(tick, behind ? 0 : this.options.intervalMs);
        });
    };
    this.timer = setTimeout(tick, this.options.intervalMs);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
  }

  /** One round over every partition (nothing when another archiver holds the lock). */
  async runOnce(): Promise<RoundOutcome> {
    const outcome: RoundOutcome = { archived: 0, deferred: 0, behind: false };
    const { log, pool, archive, archiveRetentionDays } = this.options;
    const lock = await pool.connect();
    try {
      const { rows } = await lock.query<{ locked: boolean }>(
        "select pg_try_advisory_lock(hashtext($1)) as locked",
        [archiverLockName(log.prefix)],
      );
      if (!rows[0]?.locked) return outcome;
      try {
        const readers = await readerPositions(pool, log.prefix);
        if (readers.size > 0) {
          const cursors = await archive.cursors(log.prefix, log.partitions);
          for (let partition = 0; partition < log.partitions; partition++) {
            const safe = readers.get(partition);
            if (safe === undefined) continue;
            const { archived, deferred, behind } = await this.archivePartition(
              partition,
              cursors.get(partition)!,
              safe,
            );
            outcome.archived += archived;
            outcome.deferred += deferred;
            outcome.behind ||= behind;
          }
        }
        if (archiveRetentionDays > 0) {
          const dropped = await archive.dropBefore(this.now() - archiveRetentionDays * 24 * 3600_000);
          if (dropped.length > 0) this.options.logger.info({ dropped }, "archive days dropped");
        }
      } finally {
        await lock.query("select pg_advisory_unlock(hashtext($1))", [archiverLockName(log.prefix)]);
      }
    } finally {
      lock.release();
    }
    if (outcome.archived > 0) this.options.onArchived?.(outcome.archived);
    return outcome;
  }

  private async archivePartition(
    partition: number,
    cursor: string,
    readersAt: string,
  ): Promise<RoundOutcome> {
    const { log, archive } = this.options;
    const cutoff = this.now() - this.options.retentionMs;
    const waiting = await log.intakeTail(partition);
    // Everything at or before `limit` has been passed by every reader.
    const limit =
      waiting !== null && compareStreamIds(waiting, readersAt) <= 0 ? streamIdBefore(waiting) : readersAt;
    // Task id → its terminal event seen by this scan (the latest, for a task revived in between).
    const candidates = new Map<string, string>();
    let scanned = cursor;
    let full = false;
    scan: for await (const page of log.readAll(partition, { after: cursor, pageSize: 1000 })) {
      for (const event of page) {
        if (compareStreamIds(event.streamId, limit) > 0 || streamIdTime(event.streamId) > cutoff) break scan;
        if (TERMINAL_EVENTS.has(event.type)) {
          if (candidates.size >= this.batchSize && !candidates.has(event.taskId)) {
            full = true;
            break scan;
          }
          candidates.set(event.taskId, event.streamId);
        }
        scanned = event.streamId;
      }
    }
    const ready: ArchivedTask[] = [];
    const held: string[] = [];
    // All histories at once: one pipelined round trip rather than one per task.
    const histories = await Promise.all([...candidates.keys()].map((taskId) => log.readTask(taskId)));
    for (const [i, [taskId, terminalId]] of [...candidates].entries()) {
      const history = histories[i]!;
      const last = history.at(-1);
      if (!last || !isTerminal(fold(history))) continue; // revived: its next terminal event is seen later
      // Changed after it finished (a late report recorded as rejected) beyond what readers passed.
      if (compareStreamIds(last.streamId, limit) > 0) {
        held.push(terminalId);
        continue;
      }
      ready.push({ taskId, finishedAt: streamIdTime(terminalId), events: history });
    }
    await archive.write(ready);
    const removed = await log.dropArchived(
      partition,
      ready.map((task) => ({ id: task.taskId, version: task.events.length })),
    );
    ready.forEach((task, i) => {
      if (!removed[i]) held.push(candidates.get(task.taskId)!);
    });
    // The cursor stops before the first terminal event whose task is still in the log.
    const firstHeld = held.sort(compareStreamIds)[0];
    const next = firstHeld !== undefined ? streamIdBefore(firstHeld) : scanned;
    if (compareStreamIds(next, cursor) > 0) await archive.moveCursor(log.prefix, partition, next);
    const archived = removed.filter(Boolean).length;
    return { archived, deferred: held.length, behind: full && archived > 0 };
  }
}

/**
 * The name of the advisory lock (`pg_advisory_lock(hashtext(name))`) an archiver of the log holds
 * for a round: whoever takes it knows no round is half done (a projection rebuild registers its
 * position under it).
 */
export function archiverLockName(prefix: string): string {
  return `${prefix}:archiver`;
}

/**
 * Per partition, the position every projector of the log has passed: the lowest of their
 * checkpoints (keys `${prefix}:<name>`). A partition no projector has a checkpoint for is absent.
 */
export async function readerPositions(pool: pg.Pool, prefix: string): Promise<Map<number, string>> {
  const { rows } = await pool.query<{ projector: string; partition: number; stream_id: string }>(
    "select projector, partition, stream_id from projection_checkpoints where projector like $1",
    [`${prefix}:%`],
  );
  const lowest = new Map<number, string>();
  for (const row of rows) {
    if (row.projector.slice(prefix.length + 1).includes(":")) continue; // another log's (the schedules')
    const known = lowest.get(row.partition);
    if (known === undefined || compareStreamIds(row.stream_id, known) < 0)
      lowest.set(row.partition, row.stream_id);
  }
  return lowest;
}
