/**
 * Takeover time against history size (`npm run bench -- --takeover`): of two dispatchers sharing
 * the partitions (docs/partition-ownership.md), one is killed (SIGKILL) and the other takes over
 * its partitions, with 1,000 and with 1,000,000 finished tasks in the log and 10,000 live (queued)
 * ones. A new owner folds the partition's last snapshot and the log after it (docs/snapshots.md),
 * so the two sizes should be within 1.5× of each other; one takeover per size without a snapshot
 * (the whole log folded) shows what the snapshot saves. Writes bench/TAKEOVER.md and ends with one
 * JSON line.
 *
 * Per history size: an API and one dispatcher owning every partition; the history is appended (or
 * made through the API); then the live tasks are submitted with no worker connected. Each takeover:
 * wait until the owner's snapshots cover the log, start a second dispatcher and wait until it has
 * taken its share (by handover), kill the first, and point a raw-protocol probe at the survivor
 * (it completes what it is given, so that every partition can dispatch to it). Each partition's
 * new term times itself from its claim being granted: → rebuilt (snapshot and log folded, work
 * accepted) and → first assignment sent ("partition owned" and "partition first dispatch" in its
 * log). The takeover is kill → the last taken-over partition's first dispatch; it includes the
 * dead dispatcher's lease expiring (TASKSTREAM_LEASE_TTL_SECONDS, 10 s). The survivor owns every
 * partition then, and is the next one killed.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { Redis } from "ioredis";
import { Producer, WorkerGroup } from "./fleet.ts";
import { describeMachine, type Machine } from "./machine.ts";
import { OUT, ROOT, rssOf } from "./proc.ts";
import { TASK_TYPE } from "./protocol.ts";
import { mib, table } from "./report.ts";
import { benchServices, formatMarkdown } from "./setup.ts";
import { aggregate, formatAgg, formatNumber, now, round, type Agg } from "./stats.ts";
import { newId } from "../commands/ids.ts";
import { succeededLife, taskSpec } from "../domain/testing/task-events.ts";
import { RedisEventLog } from "../event-store/redis-event-log.ts";
import { Cluster, type PartitionTakeover } from "./taskstream/cluster.ts";
import { firstDispatch } from "./taskstream/dispatch-probe.ts";

interface TakeoverOptions {
  histories: number[];
  /** How the history is made: appended straight to the log (fast), or through the API and a worker. */
  historyVia: "append" | "api";
  live: number;
  runs: number;
  baseline: boolean;
  partitions: number;
  snapshotIntervalMs: number;
  write: boolean;
}

/** One takeover: the partitions the killed dispatcher owned, taken by the survivor. */
interface Takeover {
  history: number;
  /** Without a snapshot: the new owner folded each partition's whole log. */
  baseline: boolean;
  /** The slowest partition's claim → rebuilt, ms. */
  rebuiltMs: number;
  /** The slowest partition's claim → first dispatch, ms. */
  firstDispatchMs: number;
  /** From the kill to the last taken-over partition's first dispatch: the lease's expiry plus the takeover. */
  killToDispatchMs: number;
  /** Summed over the partitions taken over. */
  restored: number;
  read: number;
  /** Tasks the new terms held once they led (live ones; finished ones are dropped). */
  tasks: number;
  leaderRssBytes: number;
  /** Each partition taken over, as its new term timed it. */
  partitions: PartitionTakeover[];
  /** Live tasks the probe completed (submitted again before the next takeover). */
  completed: number;
}

const USAGE = `usage: bash bench/run.sh --takeover [options]
  --history LIST          finished tasks in the log before the takeovers (1000,1000000)
  --history-via append|api  how: appended to the log by the bench, 64 in flight (append, the default:
                          a million in minutes), or submitted over REST and drained by an SDK worker (api)
  --live N                live (queued) tasks at each takeover (10000)
  --runs N                takeovers per history size (3)
  --no-baseline           skip the takeover without a snapshot (the whole log folded)
  --partitions N          (8)
  --snapshot-interval-ms  the owners' snapshot interval (5000; the default 30,000 only waits longer)
  --no-write              do not regenerate bench/TAKEOVER.md`;

function parseOptions(argv: string[]): TakeoverOptions {
  const { values } = parseArgs({
    args: argv.filter((arg) => arg !== "--takeover"),
    strict: true,
    options: {
      history: { type: "string", default: "1000,1000000" },
      "history-via": { type: "string", default: "append" },
      live: { type: "string", default: "10000" },
      runs: { type: "string", default: "3" },
      "no-baseline": { type: "boolean" },
      partitions: { type: "string", default: "8" },
      "snapshot-interval-ms": { type: "string", default: "5000" },
      "no-write": { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const int = (name: string, text: string) => {
    const n = Number(text.replaceAll("_", ""));
    if (!Number.isInteger(n) || n < 0) throw new Error(`--${name} must be a non-negative integer\n${USAGE}`);
    return n;
  };
  const historyVia = values["history-via"];
  if (historyVia !== "append" && historyVia !== "api") throw new Error(`--history-via append|api\n${USAGE}`);
  return {
    histories: values.history.split(",").map((h) => int("history", h.trim())),
    historyVia,
    live: int("live", values.live),
    runs: Math.max(1, int("runs", values.runs)),
    baseline: values["no-baseline"] !== true,
    partitions: Math.max(1, int("partitions", values.partitions)),
    snapshotIntervalMs: Math.max(100, int("snapshot-interval-ms", values["snapshot-interval-ms"])),
    write: values["no-write"] !== true,
  };
}

const log = (text: string) => console.error(`takeover: ${text}`);

/** Submits `count` tasks in REST batches of 1,000 (2 in flight); with `drain`, a 1 × 50 SDK worker runs them. */
async function submit(cluster: Cluster, count: number, drain: boolean): Promise<void> {
  if (count === 0) return;
  const group = drain ? await WorkerGroup.start(cluster, 1, 50) : null;
  const producer = await Producer.start(cluster);
  try {
    group?.go();
    const sent = await producer.run({
      kind: "preload",
      count,
      batch: 1000,
      concurrency: 2,
      transport: "rest",
      priorities: false,
    });
    if (sent.submitted !== count)
      throw new Error(`submitted ${sent.submitted} of ${count}: ${sent.firstError}`);
    if (group && !(await group.waitCompleted(count, 120_000 + count * 5)))
      throw new Error(`only ${group.completed} of ${count} history tasks completed in time`);
  } finally {
    await producer.stop();
    await group?.stop();
  }
}

/**
 * Writes `count` finished tasks straight to the log with the same append script and encoding the
 * API and the dispatcher use — each task's four events (TaskSubmitted with the bench's spec,
 * TaskAssigned, TaskStarted, TaskSucceeded) in one call, fenced by its partition's epoch as the
 * owner's own writes are (so none lands in the intake). 64 calls in flight.
 */
async function appendHistory(
  cluster: Cluster,
  redisUrl: string,
  epochs: ReadonlyMap<number, number>,
  count: number,
): Promise<void> {
  const redis = new Redis(redisUrl, { enableAutoPipelining: true, maxRetriesPerRequest: null });
  try {
    const log = new RedisEventLog(redis, { partitions: cluster.partitions, prefix: cluster.prefix });
    let next = 0;
    const lane = async () => {
      while (next < count) {
        next++;
        const at = Date.now();
        const spec = taskSpec({ type: TASK_TYPE, payload: { t: at } });
        const taskId = newId(at);
        const epoch = epochs.get(log.partitionOf(taskId));
        if (epoch === undefined) throw new Error(`partition ${log.partitionOf(taskId)} has no owner`);
        await log.append(taskId, 0, succeededLife(at, null, spec), { epoch });
      }
    };
    await Promise.all(Array.from({ length: 64 }, lane));
  } finally {
    redis.disconnect();
  }
}

async function takeOver(cluster: Cluster, history: number, baseline: boolean): Promise<Takeover> {
  const [victim] = cluster.dispatchers;
  if (!victim || cluster.dispatchers.length !== 1) throw new Error("expected one dispatcher");
  const epochs = await cluster.waitOwnsAll(victim, 60_000);
  // Its snapshots must cover the log as it is now: a takeover then reads nothing before them.
  await cluster.waitSnapshots(epochs, await cluster.heads(), 120_000);
  const survivor = await cluster.startDispatcher(true);
  await cluster.waitShared(60_000); // the survivor took its share by handover
  const killedAt = now();
  cluster.kill(victim);
  if (baseline) await cluster.dropSnapshots();
  const probe = firstDispatch(survivor.grpcAddress, TASK_TYPE, {
    timeoutMs: 900_000,
    slots: 2 * cluster.partitions,
    serve: { delayMs: 50 },
  });
  try {
    const partitions = await cluster.takeover(survivor, killedAt, 900_000);
    // The slowest partition; one without a ready task has no first dispatch (NaN) and is left out.
    const max = (figure: (p: PartitionTakeover) => number) =>
      Math.max(...partitions.map(figure).filter(Number.isFinite));
    const sum = (figure: (p: PartitionTakeover) => number) =>
      partitions.reduce((total, p) => total + figure(p), 0);
    return {
      history,
      baseline,
      rebuiltMs: max((p) => p.rebuildMs),
      firstDispatchMs: max((p) => p.firstDispatchMs),
      killToDispatchMs: max((p) => p.dispatchedAt) - killedAt,
      restored: sum((p) => p.restored),
      read: sum((p) => p.read),
      tasks: sum((p) => p.tasks),
      leaderRssBytes: rssOf(survivor.child.pid),
      partitions,
      completed: probe.completed(),
    };
  } finally {
    probe.cancel();
  }
}

async function measureHistory(
  options: TakeoverOptions,
  services: { redis: Redis; redisUrl: string; etcdEndpoints: string; pgUrl: string },
  runId: string,
  history: number,
): Promise<Takeover[]> {
  const cluster = new Cluster({
    ...services,
    partitions: options.partitions,
    prefix: `tsbench-${runId}-takeover-${history}`,
    label: `takeover-${runId}-${history}`,
    env: { TASKSTREAM_SNAPSHOT_INTERVAL_MS: String(options.snapshotIntervalMs) },
  });
  const takeovers: Takeover[] = [];
  try {
    await cluster.startApi();
    const first = await cluster.startDispatcher(true);
    const epochs = await cluster.waitOwnsAll(first, 60_000);
    let started = now();
    if (options.historyVia === "api") await submit(cluster, history, true);
    else await appendHistory(cluster, services.redisUrl, epochs, history);
    log(`${formatNumber(history)} finished tasks in the log (${((now() - started) / 1000).toFixed(0)} s)`);
    started = now();
    await submit(cluster, options.live, false);
    log(`${formatNumber(options.live)} live tasks queued (${((now() - started) / 1000).toFixed(0)} s)`);
    const plan = [...Array<boolean>(options.runs).fill(false), ...(options.baseline ? [true] : [])];
    for (const [i, baseline] of plan.entries()) {
      const takeover = await takeOver(cluster, history, baseline);
      log(
        `history ${formatNumber(history)}, takeover ${i + 1}/${plan.length}${baseline ? " (no snapshot)" : ""}: ` +
          `${takeover.partitions.length} partitions; slowest rebuilt ${takeover.rebuiltMs.toFixed(0)} ms, ` +
          `first dispatch ${takeover.firstDispatchMs.toFixed(0)} ms after its claim; last first dispatch ` +
          `${takeover.killToDispatchMs.toFixed(0)} ms after the kill; ` +
          `${takeover.restored} tasks from snapshots, ${takeover.read} events read`,
      );
      takeovers.push(takeover);
      // The probe completed some live tasks: queue as many again, so every takeover finds as many.
      await submit(cluster, takeover.completed, false);
    }
  } finally {
    await cluster.stop();
  }
  return takeovers;
}

function render(
  options: TakeoverOptions,
  takeovers: Takeover[],
  machine: Machine,
  startedAt: Date,
  summary: Record<string, unknown>,
): string {
  const agg = (list: Takeover[], figure: (t: Takeover) => number): Agg => aggregate(list.map(figure));
  const rows: string[][] = [];
  const partitionRows: string[][] = [];
  for (const history of options.histories) {
    for (const baseline of [false, true]) {
      const of = takeovers.filter((t) => t.history === history && t.baseline === baseline);
      if (of.length === 0) continue;
      const parts = of.flatMap((t) => t.partitions);
      partitionRows.push([
        `${formatNumber(history)}${baseline ? " — no snapshot" : ""}`,
        String(parts.length),
        formatAgg(aggregate(parts.map((p) => p.rebuildMs))),
        formatAgg(aggregate(parts.map((p) => p.foldMs))),
        formatAgg(aggregate(parts.map((p) => p.firstDispatchMs).filter(Number.isFinite))),
        formatAgg(aggregate(parts.map((p) => p.restored))),
        formatAgg(aggregate(parts.map((p) => p.read))),
      ]);
      rows.push([
        `${formatNumber(history)}${baseline ? " — no snapshot" : ""}`,
        formatNumber(options.live),
        String(of.length),
        formatAgg(agg(of, (t) => t.rebuiltMs)),
        `**${formatAgg(agg(of, (t) => t.firstDispatchMs))}**`,
        formatAgg(agg(of, (t) => t.killToDispatchMs)),
        formatAgg(agg(of, (t) => t.restored)),
        formatAgg(agg(of, (t) => t.read)),
        mib(agg(of, (t) => t.leaderRssBytes).median),
      ]);
    }
  }
  return [
    "# Takeover time against history size",
    `Generated by \`npm run bench -- --takeover\` (bench/takeover.ts) on ${startedAt.toISOString()}; ` +
      "median [min–max] over the takeovers. Regenerated by every run — do not edit.",
    "## Machine",
    table(
      ["", ""],
      Object.entries(machine).map(([k, v]) => [k, v]),
    ),
    "## Result",
    "```json\n" + JSON.stringify(summary) + "\n```",
    table(
      [
        "finished tasks in the log",
        "live tasks",
        "takeovers",
        "claim → rebuilt (slowest partition), ms",
        "claim → first dispatch (slowest partition), ms",
        "kill → last partition's first dispatch, ms",
        "tasks from snapshots",
        "events read after them",
        "survivor RSS",
      ],
      rows,
    ),
    "### Per partition taken over",
    table(
      [
        "finished tasks in the log",
        "partitions",
        "claim → rebuilt, ms",
        "of which folding, ms",
        "claim → first dispatch, ms",
        "tasks from its snapshot",
        "events read after it",
      ],
      partitionRows,
    ),
    "## How it is measured",
    [
      `- Per history size, an API and one dispatcher (\`taskstream serve\`, ${options.partitions} partitions, their own key`,
      "  prefix) owning every partition. " +
        (options.historyVia === "api"
          ? "The history is made through the API: REST batches of 1,000, drained by one TypeScript SDK worker (50 slots)."
          : "The history is appended straight to the log by the bench, with the append script and encoding the API and " +
            "the dispatcher use: each task's TaskSubmitted, TaskAssigned, TaskStarted and TaskSucceeded in one call, " +
            "fenced by its partition's epoch (`--history-via api` makes it through the API and an SDK worker instead)."),
      "  Every finished task has its four events in the log; nothing is archived (the default retention of 7",
      "  days). Then the live tasks are submitted over REST with no worker connected: they stay QUEUED.",
      `- Each takeover waits until the owner's snapshots (every ${formatNumber(options.snapshotIntervalMs)} ms here) cover the log, starts a`,
      "  second dispatcher and waits until it has taken its share of the partitions (by handover), kills the",
      "  first with SIGKILL, and points a raw-protocol worker at the survivor that completes every assignment",
      "  50 ms after receiving it (so every partition can dispatch to it; as many live tasks are queued again",
      "  before the next takeover). Once the dead dispatcher's lease",
      "  expires (TTL 10 s) the survivor claims its partitions; each partition's new term times itself from",
      "  its claim being granted to its snapshot and log folded and work accepted (rebuilt), and to its first",
      "  assignment sent (first dispatch). The takeover is kill → the last taken-over partition's first dispatch.",
      "- The survivor, which then owns every partition, is the next one killed; the last takeover of each size",
      "  deletes the snapshots right after the kill, so the survivor folds each taken-over partition's whole log.",
    ].join("\n"),
  ].join("\n\n");
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const startedAt = new Date();
  const runId = Date.now().toString(36);
  const { redisUrl, etcdEndpoints, pgUrl } = await benchServices();
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: null });
  try {
    const machine = await describeMachine(redis, pgUrl);
    const takeovers: Takeover[] = [];
    for (const history of options.histories)
      takeovers.push(
        ...(await measureHistory(options, { redis, redisUrl, etcdEndpoints, pgUrl }, runId, history)),
      );
    const median = (history: number, figure: (t: Takeover) => number) =>
      aggregate(takeovers.filter((t) => t.history === history && !t.baseline).map(figure)).median;
    const smallest = Math.min(...options.histories);
    const largest = Math.max(...options.histories);
    const ratio = median(largest, (t) => t.firstDispatchMs) / median(smallest, (t) => t.firstDispatchMs);
    const summary = {
      takeover: {
        live: options.live,
        runs: options.runs,
        results: options.histories.map((history) => ({
          history,
          rebuiltMs: round(
            median(history, (t) => t.rebuiltMs),
            0,
          ),
          firstDispatchMs: round(
            median(history, (t) => t.firstDispatchMs),
            0,
          ),
          killToDispatchMs: round(
            median(history, (t) => t.killToDispatchMs),
            0,
          ),
          withoutSnapshotFirstDispatchMs: round(
            takeovers.find((t) => t.history === history && t.baseline)?.firstDispatchMs ?? Number.NaN,
            0,
          ),
        })),
        ratio: round(ratio, 2),
        withinOneAndAHalf: Number.isFinite(ratio) ? ratio <= 1.5 : null,
      },
    };
    const markdown = await formatMarkdown(
      render(options, takeovers, machine, startedAt, summary),
      "bench/TAKEOVER.md",
    );
    mkdirSync(OUT, { recursive: true });
    writeFileSync(join(OUT, `takeover-${runId}.md`), markdown);
    writeFileSync(join(OUT, `takeover-${runId}.json`), JSON.stringify({ summary, takeovers }, null, 1));
    if (options.write) writeFileSync(join(ROOT, "bench", "TAKEOVER.md"), markdown);
    console.error(markdown);
    console.log(JSON.stringify(summary));
  } finally {
    redis.disconnect();
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(`takeover: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    process.exit(1);
  },
);
