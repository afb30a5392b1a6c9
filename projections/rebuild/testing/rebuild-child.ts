/**
 * A rebuild in a process of its own that kills itself (SIGKILL: no cleanup, connections cut) after
 * its Nth page of a phase — a crash at a known point, for rebuild-crash.int.spec.ts. Settings come
 * from the environment: REBUILD_PG_URL, REBUILD_REDIS_URL, REBUILD_SCHEMA, REBUILD_PREFIX,
 * REBUILD_PARTITIONS, REBUILD_PAGE_SIZE, REBUILD_KILL_PHASE ("archive" | "log"), REBUILD_KILL_AFTER.
 */
import { Redis } from "ioredis";
import pg from "pg";
import { ArchiveStore } from "../../../event-store/archive/archive-store.ts";
import { RedisEventLog } from "../../../event-store/redis-event-log.ts";
import { rebuildProjection } from "../rebuild.ts";

const env = (name: string): string => {
  const value = process.env[name];
  if (value === undefined) throw new Error(`${name} is not set`);
  return value;
};
const pgUrl = env("REBUILD_PG_URL");
const poolOn = (searchPath: string) =>
  new pg.Pool({ connectionString: pgUrl, options: `-c search_path=${searchPath}`, max: 4 });
const redis = new Redis(env("REBUILD_REDIS_URL"));
const log = new RedisEventLog(redis, {
  partitions: Number(env("REBUILD_PARTITIONS")),
  prefix: env("REBUILD_PREFIX"),
  intake: false,
});
const pool = poolOn(env("REBUILD_SCHEMA"));
const killPhase = env("REBUILD_KILL_PHASE");
const killAfter = Number(env("REBUILD_KILL_AFTER"));

await rebuildProjection({
  store: log,
  archive: new ArchiveStore(pool),
  pool,
  openPool: poolOn,
  pageSize: Number(env("REBUILD_PAGE_SIZE")),
  onPage: (phase, pages) => {
    if (phase === killPhase && pages === killAfter) process.kill(process.pid, "SIGKILL");
  },
});
console.log("finished without being killed");
process.exit(0);
