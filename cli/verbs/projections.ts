import { parseArgs } from "node:util";
import { connectRedis } from "../../event-store/redis-client.ts";
import pg from "pg";
import { TaskstreamError, ValidationError } from "../../domain/task/index.ts";
import { ArchiveStore } from "../../event-store/archive/archive-store.ts";
import { RedisEventLog } from "../../event-store/redis-event-log.ts";
import type { RebuildProgress, RebuildReport } from "../../projections/rebuild/rebuild.ts";
import { CONFIG_OPTIONS, loadConfig } from "../config.ts";
import { count, ProgressDisplay } from "../progress.ts";

const USAGE =
  "projections rebuild [--restart] [--discard] [--json] [--no-verify] [--keep-old] [--page-size N]";

/**
 * `taskstream projections rebuild`: refills the read model from the archive and the log in fresh
 * tables and swaps them in (docs/projection-rebuild.md). Progress goes to stderr — a bar on a
 * terminal, a line every few seconds otherwise — and the summary to stdout (`--json`: one object).
 */
export async function projectionsVerb(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      ...CONFIG_OPTIONS,
      restart: { type: "boolean" },
      discard: { type: "boolean" },
      json: { type: "boolean" },
      "no-verify": { type: "boolean" },
      "keep-old": { type: "boolean" },
      "page-size": { type: "string" },
    },
  });
  if (positionals[0] !== "rebuild" || positionals.length > 1)
    throw new ValidationError([{ field: "action", reason: `must be "rebuild" (usage: ${USAGE})` }]);
  const pageSize = values["page-size"] === undefined ? 4000 : Number(values["page-size"]);
  if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > 100_000)
    throw new ValidationError([
      { field: "page-size", reason: `must be an integer from 1 to 100000; got "${values["page-size"]}"` },
    ]);
  if (values.restart && values.discard)
    throw new ValidationError([{ field: "discard", reason: "cannot be given with --restart" }]);

  const config = loadConfig(values);
  const redis = connectRedis(config.redisUrl, { cluster: config.redisCluster, enableAutoPipelining: true });
  const store = new RedisEventLog(redis, { partitions: config.partitions, prefix: config.prefix });
  const pool = new pg.Pool({ connectionString: config.pgUrl, max: 4 });
  const abort = new AbortController();
  const stop = () =>
    abort.abort(
      new TaskstreamError(
        "UNAVAILABLE",
        "stopped by a signal; run the command again to resume where it stopped",
      ),
    );
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  const display = new ProgressDisplay((text) => process.stderr.write(text), { tty: process.stderr.isTTY });
  try {
    await store.checkLayout();
    const { discardRebuild, rebuildProjection } = await import("../../projections/rebuild/rebuild.ts");
    if (values.discard) {
      const dropped = await discardRebuild({ store, pool });
      console.log(dropped ? "discarded the unfinished rebuild" : "no unfinished rebuild to discard");
      return;
    }
    const report = await rebuildProjection({
      store,
      archive: new ArchiveStore(pool),
      pool,
      openPool: (searchPath) => poolOnSearchPath(config.pgUrl, searchPath),
      restart: values.restart ?? false,
      verify: !values["no-verify"],
      keepReplaced: values["keep-old"] ?? false,
      pageSize,
      signal: abort.signal,
      onProgress: (progress) => display.update(sample(progress)),
    }).catch((error: unknown) => {
      display.end();
      if (error instanceof TaskstreamError) throw error;
      const reason = abort.signal.aborted
        ? "stopped"
        : error instanceof Error
          ? error.message
          : String(error);
      throw new TaskstreamError("UNAVAILABLE", `${reason}; run the command again to resume where it stopped`);
    });
    display.end();
    console.log(values.json ? JSON.stringify(jsonReport(report)) : summary(report));
    const verify = report.verify;
    if (verify && verify.mismatches.length + verify.counts.length > 0) {
      const tasks = new Set(verify.mismatches.map((m) => m.taskId)).size;
      console.error(
        `taskstream projections: the rebuilt read model failed verification (${tasks} tasks differ ` +
          `from the log, ${verify.counts.length} counts by state differ from the rows); ` +
          `the replaced tables are kept in schema ${report.replacedSchema}`,
      );
      process.exitCode = 1;
    }
  } finally {
    process.off("SIGINT", stop);
    process.off("SIGTERM", stop);
    await pool.end();
    redis.disconnect();
  }
}

/** A pool like `url`'s whose connections use `searchPath` (the connection string's options kept). */
function poolOnSearchPath(url: string, searchPath: string): pg.Pool {
  const parsed = new URL(url);
  const options = [parsed.searchParams.get("options"), `-c search_path=${searchPath}`]
    .filter(Boolean)
    .join(" ");
  parsed.searchParams.set("options", options);
  return new pg.Pool({ connectionString: parsed.toString(), max: 4 });
}

function sample(progress: RebuildProgress) {
  if (progress.phase === "verify")
    return {
      phase: "verify",
      done: progress.verified?.checked ?? 0,
      total: progress.verified?.total ?? 0,
      unit: "tasks",
    };
  return {
    phase: progress.phase,
    done: progress.events,
    total: progress.expectedEvents,
    unit: "events",
    extra: `${count(progress.tasks)} tasks`,
  };
}

function summary(report: RebuildReport): string {
  const events = report.archiveEvents + report.logEvents + report.swapTailEvents;
  const lines = [
    `rebuilt ${report.projector}${report.resumed ? " (resumed)" : ""}: ${count(events)} events ` +
      `(archive ${count(report.archiveEvents)}, log ${count(report.logEvents)}, at the swap ${count(report.swapTailEvents)}), ` +
      `${count(report.tasks)} tasks, in ${report.seconds.toFixed(1)} s (${count(report.eventsPerSecond)} events/s)`,
    `swapped in at ${report.swappedAt ?? "?"}${report.generation === null ? "" : `, generation ${report.generation}`}`,
  ];
  if (report.verify)
    lines.push(
      `verify: checked ${count(report.verify.checked)} tasks: ${report.verify.mismatches.length} mismatches` +
        (report.verify.behind > 0
          ? ` (${report.verify.behind} tasks not yet folded by the live projector)`
          : "") +
        `; counts by state: ${report.verify.counts.length} mismatches`,
    );
  for (const mismatch of report.verify?.mismatches.slice(0, 20) ?? []) lines.push(JSON.stringify(mismatch));
  for (const mismatch of report.verify?.counts ?? []) lines.push(JSON.stringify(mismatch));
  if (report.replacedSchema) lines.push(`the replaced tables are kept in schema ${report.replacedSchema}`);
  return lines.join("\n");
}

/** The report with at most 50 mismatches listed (their total is `mismatchCount`). */
function jsonReport(report: RebuildReport) {
  if (!report.verify) return report;
  const { mismatches, ...verify } = report.verify;
  return {
    ...report,
    verify: { ...verify, mismatchCount: mismatches.length, mismatches: mismatches.slice(0, 50) },
  };
}
