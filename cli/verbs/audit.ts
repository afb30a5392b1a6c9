import { parseArgs } from "node:util";
import { Redis } from "ioredis";
import pg from "pg";
import { NotFoundError, ValidationError, evolve, initialState } from "../../domain/task/index.ts";
import { RedisEventLog } from "../../event-store/redis-event-log.ts";
import { ArchiveStore } from "../../event-store/archive/archive-store.ts";
import { TaskHistory } from "../../event-store/history.ts";
import { CONFIG_OPTIONS, loadConfig } from "../config.ts";

/**
 * Audit verbs: they read the log itself, the source of truth, not any projection of it — and the
 * archive, where finished tasks' events go after the retention period.
 */
function openStore(argv: string[]) {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { ...CONFIG_OPTIONS, limit: { type: "string" } },
  });
  const config = loadConfig(values);
  const redis = new Redis(config.redisUrl, { enableAutoPipelining: true });
  const store = new RedisEventLog(redis, { partitions: config.partitions, prefix: config.prefix });
  const pool = new pg.Pool({ connectionString: config.pgUrl, max: 4 });
  const archive = new ArchiveStore(pool);
  return { config, redis, store, pool, archive, values, positionals };
}

/** `taskstream replay ID`: each event in order with the state it leads to. */
export async function replay(argv: string[]): Promise<void> {
  const { redis, store, pool, archive, positionals } = openStore(argv);
  try {
    const [id] = positionals;
    if (!id) throw new ValidationError([{ field: "ID", reason: "is required" }]);
    await store.checkLayout();
    const { events, archived } = await new TaskHistory(store, archive).read(id);
    if (events.length === 0) throw new NotFoundError(`task ${id}`);
    if (archived) console.log(`(finished and archived: read from the event archive)`);
    let state = initialState();
    for (const event of events) {
      state = evolve(state, event);
      const at = new Date(Number(event.streamId.split("-")[0])).toISOString();
      console.log(`v${event.version} ${at} ${event.type} ${JSON.stringify(event.data)}`);
      console.log(
        `    → ${state.state} attempt=${state.attempt}${state.cancelRequested ? " cancel-requested" : ""}`,
      );
    }
  } finally {
    await pool.end();
    redis.disconnect();
  }
}

/**
 * `taskstream verify`: folds each task's events from the log and compares them with its read-model
 * row, then the counts by state with the rows they count.
 */
export async function verify(argv: string[]): Promise<void> {
  const { redis, store, pool, archive, values } = openStore(argv);
  try {
    await store.checkLayout();
    const { verifyReadModel, verifySummary } = await import("../../projections/verify.ts");
    const limit = values.limit === undefined ? undefined : Number(values.limit);
    if (limit !== undefined && (!Number.isInteger(limit) || limit < 1))
      throw new ValidationError([{ field: "limit", reason: "must be a positive integer" }]);
    const report = await verifyReadModel({ store, pool, archive, limit });
    console.log(verifySummary(report));
    for (const mismatch of report.mismatches.slice(0, 50)) console.log(JSON.stringify(mismatch));
    // The counts by state the overview shows, against the rows they count.
    const { verifyStateCounts } = await import("../../projections/state-counts.ts");
    const counts = await verifyStateCounts(pool);
    console.log(
      counts.length === 0 ? "counts by state: equal to the rows" : `counts by state: ${counts.length} differ`,
    );
    for (const mismatch of counts) console.log(JSON.stringify(mismatch));
    if (report.mismatches.length > 0 || counts.length > 0) process.exitCode = 1;
  } finally {
    await pool.end();
    redis.disconnect();
  }
}
