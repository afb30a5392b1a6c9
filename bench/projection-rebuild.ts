/**
 * The projection rebuild's rate (docs/projection-rebuild.md): N tasks of varied lives, a share of
 * them finished and moved to the archive, the rest in the log; then `rebuildProjection` with the
 * phases timed. Prints a table and one JSON line. Uses its own database (taskstream_rebuild_bench,
 * emptied first) and Redis key prefix (deleted after).
 *
 *   node bench/projection-rebuild.ts [--tasks 100000] [--archived 0.6] [--partitions 8] [--page-size 4000]
 */
import { parseArgs } from "node:util";
import { Redis } from "ioredis";
import pg from "pg";
import { v7 as uuidv7 } from "uuid";
import type { TaskEvent } from "../domain/task/index.ts";
import { taskEvents as on, succeededLife, taskSpec } from "../domain/testing/task-events.ts";
import { ArchiveStore } from "../event-store/archive/archive-store.ts";
import { Archiver } from "../event-store/archive/archiver.ts";
import { RedisEventLog } from "../event-store/redis-event-log.ts";
import { migrate } from "../migrations/migrate.ts";
import { rebuildProjection, type RebuildProgress } from "../projections/rebuild/rebuild.ts";
import { TasksProjector } from "../projections/tasks-projector.ts";
import { benchDatabaseUrl, ensureDatabase } from "./pg-admin.ts";

const { values } = parseArgs({
  options: {
    tasks: { type: "string", default: "100000" },
    archived: { type: "string", default: "0.6" },
    partitions: { type: "string", default: "8" },
    "page-size": { type: "string", default: "4000" },
  },
});
const tasks = Number(values.tasks);
const archivedShare = Number(values.archived);
const partitions = Number(values.partitions);
const pageSize = Number(values["page-size"]);

const pgUrl = benchDatabaseUrl(
  process.env.TASKSTREAM_PG_URL ?? "postgres://postgres@127.0.0.1:15432/taskstream",
  "taskstream_rebuild_bench",
);
await ensureDatabase(pgUrl);
const admin = new pg.Client({ connectionString: pgUrl });
await admin.connect();
await admin.query("drop schema public cascade; create schema public");
await admin.end();
const pool = new pg.Pool({ connectionString: pgUrl, max: 6 });
await migrate(pool);
const redis = new Redis(process.env.TASKSTREAM_REDIS_URL ?? "redis://127.0.0.1:16379", {
  enableAutoPipelining: true,
});
const prefix = `bench-rebuild-${process.pid}`;
const log = new RedisEventLog(redis, { partitions, prefix, intake: false });
const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };

/** One life in five of each kind: succeeded, running, retried then succeeded, cancelled, waiting. */
function life(i: number, at: number): TaskEvent[] {
  const spec = taskSpec({ type: `type-${i % 7}`, priority: i % 10, payload: { n: i, text: "x".repeat(64) } });
  switch (i % 5) {
    case 0:
      return succeededLife(at, { n: i }, spec);
    case 1:
      return [on.submitted(at, spec), on.assigned(1, at + 1), on.started(1, at + 2)];
    case 2:
      return [
        on.submitted(at, spec),
        on.assigned(1, at + 1),
        on.started(1, at + 2),
        on.failed(1, at + 3, at + 4),
        on.assigned(2, at + 5),
        on.started(2, at + 6),
        on.succeeded(2, at + 7, { n: i }),
      ];
    case 3:
      return [on.submitted(at, spec), on.cancelRequested(at + 1), on.cancelled(at + 2)];
    default:
      return [on.submitted(at, spec)];
  }
}

async function seed(from: number, to: number): Promise<void> {
  const t0 = Date.now() - 3600_000;
  for (let i = from; i < to; i += 1000)
    await Promise.all(
      Array.from({ length: Math.min(1000, to - i) }, (_, k) =>
        log.append(uuidv7(), 0, life(i + k, t0 + i + k)),
      ),
    );
}

const seconds = (since: number) => (Date.now() - since) / 1000;
try {
  const projector = new TasksProjector({ store: log, pool });
  const archiver = new Archiver({
    log,
    archive: new ArchiveStore(pool),
    pool,
    retentionMs: 0,
    archiveRetentionDays: 0,
    intervalMs: 1000,
    batchSize: 2000,
    logger: quiet,
  });
  const first = Math.round(tasks * archivedShare);
  let started = Date.now();
  await seed(0, first);
  process.stderr.write(`seeded ${first} tasks in ${seconds(started)} s\n`);
  started = Date.now();
  const projected = await projector.catchUp();
  const liveRate = projected / seconds(started);
  process.stderr.write(`live projector: ${projected} events in ${seconds(started)} s\n`);
  started = Date.now();
  while ((await archiver.runOnce()).archived > 0);
  process.stderr.write(`archived in ${seconds(started)} s\n`);
  await seed(first, tasks);
  await projector.catchUp();

  const phases = new Map<string, number>();
  let last: RebuildProgress | null = null;
  started = Date.now();
  const report = await rebuildProjection({
    store: log,
    archive: new ArchiveStore(pool),
    pool,
    openPool: (searchPath) =>
      new pg.Pool({ connectionString: pgUrl, options: `-c search_path=${searchPath}`, max: 4 }),
    pageSize,
    onProgress: (progress) => {
      if (!phases.has(progress.phase)) phases.set(progress.phase, Date.now());
      last = progress;
    },
  });
  const ended = Date.now();
  const at = (phase: string) => phases.get(phase) ?? ended;
  const foldSeconds = (at("swap") - started) / 1000;
  const folded = report.archiveEvents + report.logEvents;
  const result = {
    projectionRebuild: {
      tasks,
      archivedShare,
      partitions,
      pageSize,
      archiveEvents: report.archiveEvents,
      logEvents: report.logEvents,
      archiveSeconds: (at("log") - at("archive")) / 1000,
      logSeconds: (at("swap") - at("log")) / 1000,
      swapSeconds: (at("verify") - at("swap")) / 1000,
      verifySeconds: (ended - at("verify")) / 1000,
      foldEventsPerS: Math.round(folded / foldSeconds),
      archiveEventsPerS: Math.round(report.archiveEvents / ((at("log") - at("archive")) / 1000)),
      logEventsPerS: Math.round(report.logEvents / ((at("swap") - at("log")) / 1000)),
      totalSeconds: report.seconds,
      liveProjectorEventsPerS: Math.round(liveRate),
      mismatches: report.verify?.mismatches.length ?? null,
      countMismatches: report.verify?.counts.length ?? null,
      tasksRebuilt: (last as RebuildProgress | null)?.tasks ?? null,
    },
  };
  console.log(JSON.stringify(result));
} finally {
  const keys = await redis.keys(`${prefix}:*`);
  for (let i = 0; i < keys.length; i += 1000) await redis.del(...keys.slice(i, i + 1000));
  redis.disconnect();
  await pool.end();
}
