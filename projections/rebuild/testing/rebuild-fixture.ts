import pg from "pg";
import { v7 as uuidv7 } from "uuid";
import type { TaskEvent } from "../../../domain/task/index.ts";
import { taskEvents as on, succeededLife, taskSpec } from "../../../domain/testing/task-events.ts";
import { ArchiveStore } from "../../../event-store/archive/archive-store.ts";
import { Archiver } from "../../../event-store/archive/archiver.ts";
import { RedisEventLog } from "../../../event-store/redis-event-log.ts";
import { migrate } from "../../../migrations/migrate.ts";
import { testServices } from "../../../tests/support/services.ts";
import { TasksProjector } from "../../tasks-projector.ts";
import { createReadModelFixture, type ReadModelFixture } from "../../testing/read-model-fixture.ts";
import { rebuildProjection, type RebuildOptions, type RebuildReport } from "../rebuild.ts";

const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };

/**
 * A read side to rebuild: a log without an intake (no dispatcher here, so the archiver may move
 * finished tasks at once), the archive, a live projector over the fixture's schema, and the
 * rebuild wired to them.
 */
export interface RebuildFixture extends ReadModelFixture {
  log: RedisEventLog;
  archive: ArchiveStore;
  archiver: Archiver;
  live: TasksProjector;
  /** A pool on this search_path (how the rebuild opens its fresh tables' pool). */
  openPool(searchPath: string): pg.Pool;
  rebuild(options?: Partial<RebuildOptions>): Promise<RebuildReport>;
  /** Appends `count` tasks of varied lives; returns their ids. */
  seed(count: number): Promise<string[]>;
  /** The whole read model, ordered: every row, every recorded event, and the side models. */
  snapshot(pool?: pg.Pool): Promise<ReadModelSnapshot>;
  /** Feed entries whose commit order (`seq`) disagrees with their partition's log order. */
  feedOutOfOrder(): Promise<number>;
  /**
   * The snapshot of a read model folded from nothing, by a projector of its own, over the whole log
   * as it stands (the archive is not read: for tests that archive nothing).
   */
  referenceFold(): Promise<ReadModelSnapshot>;
}

/** Every table of the tasks read model, rows in a stable order. */
export type ReadModelSnapshot = Record<
  | "tasks"
  | "events"
  | "counts"
  | "minutes"
  | "hours"
  | "workerMinutes"
  | "workerHours"
  | "openAttempts"
  | "feed",
  unknown[]
>;

export async function createRebuildFixture(name: string, partitions = 4): Promise<RebuildFixture> {
  const fx = await createReadModelFixture(name, partitions);
  const log = new RedisEventLog(fx.redis, { partitions, prefix: fx.prefix, intake: false });
  const archive = new ArchiveStore(fx.pool);
  const archiver = new Archiver({
    log,
    archive,
    pool: fx.pool,
    retentionMs: 0,
    archiveRetentionDays: 0,
    intervalMs: 1000,
    logger: quiet,
  });
  const live = new TasksProjector({ store: log, redis: fx.redis, pool: fx.newPool() });
  const extraPools: pg.Pool[] = [];
  const reference = `${fx.schema}_reference`;
  const openPool = (searchPath: string) => {
    const pool = new pg.Pool({
      connectionString: testServices.pgUrl,
      options: `-c search_path=${searchPath}`,
      max: 4,
    });
    extraPools.push(pool);
    return pool;
  };
  let clock = Date.now() - 3600_000;
  const lives = (i: number): TaskEvent[] => {
    const at = (clock += 10);
    const spec = taskSpec({ type: `type-${i % 3}`, priority: i % 10, payload: { i } });
    switch (i % 5) {
      case 0:
        return succeededLife(at, { i }, spec);
      case 1:
        return [on.submitted(at, spec), on.assigned(1, at + 1), on.started(1, at + 2)];
      case 2:
        return [
          on.submitted(at, spec),
          on.assigned(1, at + 1),
          on.started(1, at + 2),
          on.failed(1, at + 3, at + 4),
          on.assigned(2, at + 5, "worker-2"),
          on.started(2, at + 6, "worker-2"),
          on.succeeded(2, at + 7, { i, attempt: 2 }),
        ];
      case 3:
        return [on.submitted(at, spec), on.cancelRequested(at + 1), on.cancelled(at + 2)];
      default:
        return [on.submitted(at, spec)];
    }
  };
  const snapshot = async (pool = fx.pool): Promise<ReadModelSnapshot> => {
    const read = async (sql: string) => (await pool.query(sql)).rows as unknown[];
    return {
      tasks: await read("select * from tasks order by id"),
      events: await read(
        "select task_id, version, type, data::text, stream_id, partition, recorded_at from task_events order by task_id, version",
      ),
      // A count that went back to zero keeps its row in the live model.
      counts: await read("select * from task_state_counts where count <> 0 order by task_type, state"),
      minutes: await read("select * from analytics_minutes order by minute, task_type"),
      hours: await read("select * from analytics_hours order by hour, task_type"),
      workerMinutes: await read("select * from analytics_worker_minutes order by minute, worker_id"),
      workerHours: await read("select * from analytics_worker_hours order by hour, worker_id"),
      openAttempts: await read("select * from analytics_open_attempts order by task_id"),
      feed: await read(
        `select partition, stream_ms, stream_seq, task_id, version, event_type, task_type, state, priority, recorded_at
         from task_feed order by partition, stream_ms, stream_seq`,
      ),
    };
  };
  return {
    ...fx,
    log,
    archive,
    archiver,
    live,
    openPool,
    rebuild: (options = {}) =>
      rebuildProjection({ store: log, archive, pool: fx.pool, openPool, ...options }),
    async seed(count) {
      const ids: string[] = [];
      await Promise.all(
        Array.from({ length: count }, async (_, i) => {
          const id = uuidv7();
          ids.push(id);
          await log.append(id, 0, lives(i));
        }),
      );
      return ids;
    },
    snapshot,
    async feedOutOfOrder() {
      const { rows } = await fx.pool.query<{ n: number }>(
        `select count(*)::int as n from (
           select seq, lag(seq) over (partition by partition order by stream_ms, stream_seq) as before
           from task_feed) f
         where f.before > f.seq`,
      );
      return rows[0]!.n;
    },
    async referenceFold() {
      await fx.pool.query(`drop schema if exists ${reference} cascade; create schema ${reference}`);
      const pool = openPool(reference);
      await migrate(pool);
      const projector = new TasksProjector({ store: log, pool });
      await projector.catchUp();
      const folded = await snapshot(pool);
      await pool.end();
      return folded;
    },
    async close() {
      await live.stop();
      await Promise.all(extraPools.filter((pool) => !pool.ended).map((pool) => pool.end()));
      const admin = new pg.Pool({ connectionString: testServices.pgUrl, max: 1 });
      await admin.query(`drop schema if exists ${fx.schema}_rebuild cascade`);
      await admin.query(`drop schema if exists ${fx.schema}_replaced cascade`);
      await admin.query(`drop schema if exists ${reference} cascade`);
      await admin.end();
      await fx.close();
    },
  };
}
