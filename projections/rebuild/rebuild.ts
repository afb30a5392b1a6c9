import type pg from "pg";
import { IllegalStateError } from "../../domain/task/index.ts";
import type { ArchiveStore } from "../../event-store/archive/archive-store.ts";
import { archiverLockName } from "../../event-store/archive/archiver.ts";
import type { EventLog } from "../../event-store/event-log.ts";
import { STREAM_START } from "../../event-store/stream-ids.ts";
import { loadCheckpoints } from "../checkpoints.ts";
import { commitBatch } from "../commit-batch.ts";
import { RowCache } from "../row-cache.ts";
import { TasksProjector } from "../tasks-projector.ts";
import type { Queryable } from "../task-table.ts";
import { TASKS_READ_MODEL, type ReadModelRelations } from "./read-models.ts";
import { acquireRebuildLock } from "./rebuild-lock.ts";
import {
  appliedMigrations,
  deleteRebuild,
  insertRebuild,
  loadRebuild,
  moveArchiveCursor,
  setPhase,
  type RebuildState,
} from "./rebuild-state.ts";
import {
  checkReadModel,
  createShadowIndexes,
  createShadowTables,
  dropRebuildSchema,
  qualified,
  rebuildSchemas,
  restoreCommitOrder,
  searchPath,
  shadowComplete,
} from "./shadow-tables.ts";
import { trySwap } from "./swap.ts";
import { verifySwapped, type SwappedVerifyReport } from "./verify-swapped.ts";

export interface RebuildOptions {
  store: EventLog;
  /** The archive of finished tasks (null: the log alone). */
  archive: ArchiveStore | null;
  /** The live read model: its connections' current schema holds the live tables. */
  pool: pg.Pool;
  /**
   * A pool on the same database whose connections use this search_path: plain schema names
   * separated by commas, the fresh tables' first.
   */
  openPool: (searchPath: string) => pg.Pool;
  /** The projector's name (default "tasks"): its checkpoint key is `${prefix}:${name}`. */
  name?: string;
  /** Discards a rebuild an earlier run left unfinished and starts from nothing. */
  restart?: boolean;
  /** Events per transaction (default 4000). */
  pageSize?: number;
  /** The swap folds at most this many events itself (default 20000); with more, the rebuild catches up first. */
  maxSwapTailEvents?: number;
  /** How long the swap waits for a lock before it gives up and tries again (default 5000 ms). */
  swapLockTimeoutMs?: number;
  /** Verifies the swapped-in read model (default true). */
  verify?: boolean;
  /** Keeps the replaced tables in `<schema>_replaced` instead of dropping them (until the next rebuild). */
  keepReplaced?: boolean;
  onProgress?: (progress: RebuildProgress) => void;
  /** Stops the rebuild between two pages (it resumes from there when run again). */
  signal?: AbortSignal;
  /** Called after each committed page, with its phase and the number of pages this run committed. */
  onPage?: (phase: "archive" | "log", pages: number) => void;
  /** Awaited before each attempt to swap (tests move the live projector here). */
  beforeSwap?: (attempt: number) => Promise<void>;
}

export interface RebuildProgress {
  phase: "archive" | "log" | "swap" | "verify";
  /** Events this run folded. */
  events: number;
  /** Tasks this run folded from their first event. */
  tasks: number;
  /** Events this run is expected to fold in all: an estimate that the log's growth moves. */
  expectedEvents: number;
  /** While verifying: tasks checked, of how many. */
  verified?: { checked: number; total: number };
}

export interface RebuildReport {
  /** The live projector's checkpoint key. */
  projector: string;
  /** Whether this run continued a rebuild an earlier one left. */
  resumed: boolean;
  archiveEvents: number;
  logEvents: number;
  /** Events the swap itself folded (what the live projector did while the rebuild caught up). */
  swapTailEvents: number;
  tasks: number;
  seconds: number;
  eventsPerSecond: number;
  /** The read model's generation after the swap. */
  generation: number | null;
  swappedAt: string | null;
  verify: SwappedVerifyReport | null;
  /** Where the replaced tables are kept, when they are. */
  replacedSchema: string | null;
}

const MAX_SWAP_ATTEMPTS = 5;

/**
 * `taskstream projections rebuild` (docs/projection-rebuild.md): folds the archive and then the log
 * into fresh tables with the live projector's own code while readers keep using the live tables,
 * swaps them in in one transaction, and verifies. Resumes an unfinished rebuild from its own
 * checkpoints; refuses to run beside another.
 */
export async function rebuildProjection(options: RebuildOptions): Promise<RebuildReport> {
  const run = await RebuildRun.open(options);
  try {
    return await run.execute();
  } finally {
    await run.close();
  }
}

/** Drops an unfinished rebuild (its fresh tables, checkpoint and state); false when there was none. */
export async function discardRebuild(
  options: Pick<RebuildOptions, "store" | "pool" | "name">,
): Promise<boolean> {
  const liveKey = `${options.store.prefix}:${options.name ?? "tasks"}`;
  const lock = await acquireRebuildLock(options.pool, liveKey);
  try {
    const state = await loadRebuild(options.pool, liveKey);
    if (!state) return false;
    await discard(options.pool, state, `${liveKey}-rebuild`);
    return true;
  } finally {
    await lock.release();
  }
}

async function discard(pool: pg.Pool, state: RebuildState, rebuildKey: string): Promise<void> {
  await inTransaction(pool, async (db) => {
    await dropRebuildSchema(db, state.shadowSchema);
    await db.query("delete from projection_checkpoints where projector = $1", [rebuildKey]);
    await deleteRebuild(db, state.projector);
  });
}

class RebuildRun {
  private readonly options: RebuildOptions;
  private readonly model: ReadModelRelations = TASKS_READ_MODEL;
  private readonly liveKey: string;
  private readonly rebuildKey: string;
  private readonly schemas: { live: string; shadow: string; replaced: string };
  private readonly release: () => Promise<void>;
  private readonly started = Date.now();
  private shadowPool: pg.Pool | null = null;
  private progress: RebuildProgress = { phase: "archive", events: 0, tasks: 0, expectedEvents: 0 };
  private report: RebuildReport;

  private constructor(options: RebuildOptions, live: string, release: () => Promise<void>) {
    this.options = options;
    this.liveKey = `${options.store.prefix}:${options.name ?? "tasks"}`;
    this.rebuildKey = `${this.liveKey}-rebuild`;
    this.schemas = { live, ...rebuildSchemas(live) };
    this.release = release;
    this.report = {
      projector: this.liveKey,
      resumed: false,
      archiveEvents: 0,
      logEvents: 0,
      swapTailEvents: 0,
      tasks: 0,
      seconds: 0,
      eventsPerSecond: 0,
      generation: null,
      swappedAt: null,
      verify: null,
      replacedSchema: null,
    };
  }

  /** Takes the rebuild's lock and finds the live schema. */
  static async open(options: RebuildOptions): Promise<RebuildRun> {
    const liveKey = `${options.store.prefix}:${options.name ?? "tasks"}`;
    const lock = await acquireRebuildLock(options.pool, liveKey);
    try {
      const { rows } = await options.pool.query<{ schema: string | null; migrated: boolean }>(
        "select current_schema() as schema, to_regclass('projection_rebuilds') is not null as migrated",
      );
      const live = rows[0]?.schema;
      if (!live)
        throw new IllegalStateError("the database connection has no current schema (check search_path)");
      if (!rows[0]?.migrated)
        throw new IllegalStateError(
          "the database lacks migration 008_projection_rebuilds: run taskstream migrate",
        );
      return new RebuildRun(options, live, () => lock.release());
    } catch (error) {
      await lock.release();
      throw error;
    }
  }

  async close(): Promise<void> {
    await this.shadowPool?.end();
    await this.release();
  }

  async execute(): Promise<RebuildReport> {
    const { pool, restart } = this.options;
    let state = await loadRebuild(pool, this.liveKey);
    if (state && restart) {
      await discard(pool, state, this.rebuildKey);
      state = null;
    }
    if (state?.phase !== "swapped") await checkReadModel(pool, this.schemas.live, this.model);
    if (state) {
      this.report.resumed = true;
      if (state.shadowSchema !== this.schemas.shadow)
        throw new IllegalStateError(
          `the unfinished rebuild fills schema ${state.shadowSchema}, not ${this.schemas.shadow}: ` +
            "run it with the configuration it was started with, or again with --restart",
        );
      if (state.phase !== "swapped" && !(await shadowComplete(pool, state.shadowSchema, this.model)))
        throw new IllegalStateError(
          `the unfinished rebuild's tables in schema ${state.shadowSchema} are incomplete; run it again with --restart`,
        );
    } else state = await this.begin();
    if (state.phase !== "swapped") {
      // The fresh tables first, then everything else the fold reads (checkpoints, generations).
      this.shadowPool = this.options.openPool(searchPath(this.schemas.shadow, this.schemas.live));
      await this.estimate(state);
      if (state.phase === "archive") state = await this.foldArchive(state);
      state = await this.foldLogAndSwap(state);
    }
    return this.finish(state);
  }

  /** Creates the fresh tables and the rebuild's checkpoint, under the archiver's lock, in one transaction. */
  private async begin(): Promise<RebuildState> {
    const { pool, store, archive } = this.options;
    await inTransaction(pool, async (db) => {
      // No archiver round is half done now, and every later one sees the rebuild's checkpoint.
      await db.query("select pg_advisory_xact_lock(hashtext($1))", [archiverLockName(store.prefix)]);
      await dropRebuildSchema(db, this.schemas.shadow);
      await createShadowTables(db, this.schemas.live, this.schemas.shadow, this.model);
      await db.query("delete from projection_checkpoints where projector = $1", [this.rebuildKey]);
      await db.query(
        `insert into projection_checkpoints (projector, partition, stream_id)
         select $1, p, $3 from generate_series(0, $2 - 1) as p`,
        [this.rebuildKey, store.partitions, STREAM_START],
      );
      await insertRebuild(db, {
        projector: this.liveKey,
        shadowSchema: this.schemas.shadow,
        phase: archive ? "archive" : "log",
        migrations: await appliedMigrations(db),
      });
    });
    return (await loadRebuild(pool, this.liveKey))!;
  }

  private async estimate(state: RebuildState): Promise<void> {
    const { store, archive } = this.options;
    let expected = 0;
    if (state.phase === "archive" && archive)
      expected += (await archive.countAfter(state.archiveAfter)).events;
    for (let p = 0; p < store.partitions; p++) expected += await store.size(p);
    this.progress.expectedEvents = expected;
  }

  /** The archive, a page of whole task histories at a time in task id order, each page with its cursor move. */
  private async foldArchive(state: RebuildState): Promise<RebuildState> {
    const { archive, store, signal, onPage } = this.options;
    const tasksPerPage = Math.max(1, Math.floor((this.options.pageSize ?? 4000) / 4));
    const target = { pool: this.shadowPool!, store, checkpointKey: this.rebuildKey, cache: new RowCache(0) };
    let after = state.archiveAfter;
    for (let pages = 1; archive; pages++) {
      signal?.throwIfAborted();
      const events = await archive.readTasksAfter(after, tasksPerPage);
      if (events.length === 0) break;
      const last = events.at(-1)!.taskId;
      const from = after;
      const outcome = await commitBatch(target, events, [], (db) =>
        moveArchiveCursor(db, this.liveKey, from, last),
      ).catch((error: unknown) => {
        throw new Error(`folding the archive after task "${from}": ${describe(error)}`, { cause: error });
      });
      if (!outcome)
        throw new IllegalStateError(
          "the rebuild's archive cursor moved under it: is another rebuild running?",
        );
      after = last;
      this.advance("archive", outcome.applied.length, countFirst(outcome.applied));
      this.report.archiveEvents += outcome.applied.length;
      onPage?.("archive", pages);
    }
    await setPhase(this.options.pool, this.liveKey, "log");
    return { ...state, phase: "log", archiveAfter: after };
  }

  /**
   * The log, up to the live projector's checkpoint (read again before each pass), until a pass has
   * little left to do; then the swap, which folds the last events itself. A swap that finds too
   * many events left, or cannot get its locks in time, is rolled back and tried again.
   */
  private async foldLogAndSwap(state: RebuildState): Promise<RebuildState> {
    const { pool, store, signal, onPage } = this.options;
    const maxTail = this.options.maxSwapTailEvents ?? 20_000;
    let pages = 0;
    const projector = new TasksProjector({
      store,
      pool: this.shadowPool!,
      name: `${this.options.name ?? "tasks"}-rebuild`,
      batchSize: this.options.pageSize ?? 4000,
      onBatch: (events, _lagMs, newTasks) => {
        this.advance("log", events, newTasks);
        this.report.logEvents += events;
        onPage?.("log", ++pages);
      },
    });
    const catchUp = async () =>
      projector.catchUp({ until: await loadCheckpoints(pool, this.liveKey, store.partitions), signal });
    while ((await catchUp()) > maxTail);
    await inTransaction(pool, (db) => restoreCommitOrder(db, this.schemas.shadow, this.model));
    await createShadowIndexes(pool, this.schemas.live, this.schemas.shadow, this.model);
    for (const table of this.model.tables)
      await pool.query(`analyze ${qualified(this.schemas.shadow, table)}`);
    await dropRebuildSchema(pool, this.schemas.replaced);
    this.emit("swap");
    for (let attempt = 1; ; attempt++) {
      signal?.throwIfAborted();
      await this.options.beforeSwap?.(attempt);
      const outcome = await trySwap({
        pool,
        store,
        model: this.model,
        state,
        schemas: this.schemas,
        liveKey: this.liveKey,
        rebuildKey: this.rebuildKey,
        maxTailEvents: maxTail,
        lockTimeoutMs: this.options.swapLockTimeoutMs ?? 5000,
      }).catch((error: unknown) => {
        if (!isLockConflict(error) || attempt >= MAX_SWAP_ATTEMPTS) throw error;
        return null;
      });
      if (outcome?.swapped) {
        this.report.generation = outcome.generation;
        this.report.swapTailEvents = outcome.tailEvents;
        this.advance("swap", outcome.tailEvents, 0);
        return (await loadRebuild(pool, this.liveKey))!;
      }
      if (outcome) await catchUp();
    }
  }

  /** After the swap: verify, then drop what is left over, and the rebuild's state last. */
  private async finish(state: RebuildState): Promise<RebuildReport> {
    const { pool, store, archive } = this.options;
    this.report.swappedAt = state.swappedAt?.toISOString() ?? null;
    if (this.options.verify ?? true) {
      this.emit("verify");
      this.report.verify = await verifySwapped({
        store,
        pool,
        archive,
        checkpointKey: this.liveKey,
        onProgress: (checked, total) => {
          this.progress.verified = { checked, total };
          this.emit("verify");
        },
      });
    }
    const failed =
      (this.report.verify?.mismatches.length ?? 0) + (this.report.verify?.counts.length ?? 0) > 0;
    const keep = (this.options.keepReplaced ?? false) || failed;
    if (keep) this.report.replacedSchema = this.schemas.replaced;
    else await dropRebuildSchema(pool, this.schemas.replaced);
    await inTransaction(pool, async (db) => {
      await dropRebuildSchema(db, state.shadowSchema);
      await deleteRebuild(db, this.liveKey);
    });
    this.report.tasks = this.progress.tasks;
    this.report.seconds = (Date.now() - this.started) / 1000;
    const events = this.report.archiveEvents + this.report.logEvents + this.report.swapTailEvents;
    this.report.eventsPerSecond = this.report.seconds > 0 ? Math.round(events / this.report.seconds) : 0;
    return this.report;
  }

  private advance(phase: RebuildProgress["phase"], events: number, tasks: number): void {
    this.progress.events += events;
    this.progress.tasks += tasks;
    this.progress.expectedEvents = Math.max(this.progress.expectedEvents, this.progress.events);
    this.emit(phase);
  }

  private emit(phase: RebuildProgress["phase"]): void {
    this.progress.phase = phase;
    this.options.onProgress?.({ ...this.progress });
  }
}

async function inTransaction(pool: pg.Pool, work: (db: Queryable) => Promise<void>): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query("begin");
    await work(client);
    await client.query("commit");
    client.release();
  } catch (error) {
    const rolledBack = await client.query("rollback").then(
      () => true,
      () => false,
    );
    client.release(!rolledBack);
    throw error;
  }
}

function countFirst(events: readonly { version: number }[]): number {
  return events.reduce((count, event) => count + (event.version === 1 ? 1 : 0), 0);
}

/**
 * PostgreSQL's lock_not_available (lock_timeout expired) or deadlock_detected: a reader whose one
 * statement locks two of the tables in the order opposite to the swap's can close a cycle with it.
 */
function isLockConflict(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === "55P03" || code === "40P01";
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
