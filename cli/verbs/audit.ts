import pg from "pg";
import { NotFoundError, evolve, initialState } from "../../domain/task/index.ts";
import { RedisEventLog } from "../../event-store/redis-event-log.ts";
import { connectRedis } from "../../event-store/redis-client.ts";
import { ArchiveStore } from "../../event-store/archive/archive-store.ts";
import { TaskHistory } from "../../event-store/history.ts";
import { loadConfig } from "../config.ts";
import { ProgressBar } from "../output/progress.ts";
import { table } from "../output/table.ts";
import type { Verb, VerbContext } from "../verb.ts";

/**
 * Audit verbs: they read the log itself, the source of truth, not any projection of it — and the
 * archive, where finished tasks' events go after the retention period.
 */
function openStore(c: VerbContext) {
  const config = loadConfig(c.values);
  const redis = connectRedis(config.redisUrl, {
    cluster: config.redisCluster,
    enableAutoPipelining: true,
    maxRetriesPerRequest: 2,
  });
  const store = new RedisEventLog(redis, { partitions: config.partitions, prefix: config.prefix });
  const pool = new pg.Pool({ connectionString: config.pgUrl, max: 4 });
  const archive = new ArchiveStore(pool);
  return { redis, store, pool, archive };
}

/** `taskstream replay ID`: each event in order with the state it leads to. */
export const replay: Verb = {
  name: "replay",
  summary: "Every event of a task from the log (and the archive), with the state after each.",
  args: ["ID"],
  config: true,
  flags: {},
  examples: ["taskstream replay 0193a0c2-7f1e-7b4a-9c1d-2f0e5a6b7c8d --redis-url redis://10.0.0.5:6379"],
  async run(c) {
    const id = c.arg(0, "ID");
    const { redis, store, pool, archive } = openStore(c);
    try {
      await store.checkLayout();
      const { events, archived } = await new TaskHistory(store, archive).read(id);
      if (events.length === 0) throw new NotFoundError(`task ${id}`);
      let state = initialState();
      const steps = events.map((event) => {
        state = evolve(state, event);
        return {
          version: event.version,
          at: new Date(Number(event.streamId.split("-")[0])).toISOString(),
          type: event.type,
          data: event.data,
          state: state.state,
          attempt: state.attempt,
          cancelRequested: state.cancelRequested,
        };
      });
      c.print(
        () =>
          (archived ? "(finished and archived: read from the event archive)\n" : "") +
          table(steps, [
            { header: "V", value: (s) => s.version, right: true },
            { header: "AT", value: (s) => s.at },
            { header: "EVENT", value: (s) => s.type },
            {
              header: "STATE AFTER",
              value: (s) => `${s.state}${s.cancelRequested ? " (cancel requested)" : ""}`,
            },
            { header: "ATTEMPT", value: (s) => s.attempt, right: true },
            { header: "DATA", value: (s) => s.data, max: 100 },
          ]),
        { id, archived, events: steps },
      );
    } finally {
      await pool.end();
      redis.disconnect();
    }
  },
};

/**
 * `taskstream verify`: folds each task's events from the log and compares them with its read-model
 * row, then the counts by state with the rows they count.
 */
export const verify: Verb = {
  name: "verify",
  summary: "Prove the read model equals the fold of the log, task by task (exit code 1 on any difference).",
  config: true,
  flags: { limit: { type: "string", value: "N", help: "check at most N tasks" } },
  examples: ["taskstream verify --limit 100000"],
  async run(c) {
    const limit = c.int("limit", 1);
    const { redis, store, pool, archive } = openStore(c);
    try {
      await store.checkLayout();
      const { verifyReadModel, verifySummary } = await import("../../projections/verify.ts");
      const bar = new ProgressBar("verifying", 0);
      const report = await verifyReadModel({
        store,
        pool,
        archive,
        limit,
        onProgress: (checked, total) => bar.update(checked, total),
      });
      bar.done(`${report.checked} tasks checked`);
      // The counts by state the overview shows, against the rows they count.
      const { verifyStateCounts } = await import("../../projections/state-counts.ts");
      const counts = await verifyStateCounts(pool);
      c.print(
        () =>
          [
            verifySummary(report),
            ...report.mismatches.slice(0, 50).map((m) => JSON.stringify(m)),
            counts.length === 0
              ? "counts by state: equal to the rows"
              : `counts by state: ${counts.length} differ`,
            ...counts.map((m) => JSON.stringify(m)),
          ].join("\n"),
        { ...report, stateCountMismatches: counts },
      );
      if (report.mismatches.length > 0 || counts.length > 0) process.exitCode = 1;
    } finally {
      await pool.end();
      redis.disconnect();
    }
  },
};
