/**
 * Takeover time against history size (`npm run bench -- --takeover`): a dispatcher leader is killed
 * (SIGKILL) and the standby's takeover is timed from its lease being granted to its first dispatch,
 * with 1,000 and with 1,000,000 finished tasks in the log and 10,000 live (queued) ones. A new
 * leader folds the last snapshot and the log after it (docs/snapshots.md), so the two should be
 * within 1.5× of each other; one takeover per size without a snapshot (the whole log folded) shows
 * what the snapshot saves. Writes bench/TAKEOVER.md and ends with one JSON line.
 *
 * Per history size: an API and a leading dispatcher; the history is made the real way (REST
 * batches, drained by an SDK worker: every finished task has its four events in the log); then the
 * live tasks are submitted with no worker connected. Each takeover: wait until the leader's
 * snapshot covers the log, start a standby, point a raw-protocol probe at it (retrying every 10 ms,
 * so no reconnect backoff blurs the figure), kill the leader. The new leader times itself
 * (`taskstream_dispatcher_takeover_seconds`): lease granted → rebuilt (live state folded, work
 * accepted) and → first assignment sent; from outside, kill → the probe's first assignment adds
 * the lease's expiry (TASKSTREAM_LEASE_TTL_SECONDS, 10 s). The new leader is the next one killed.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { setTimeout as sleep } from "node:timers/promises";
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
import { Cluster } from "./taskstream/cluster.ts";
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

/** One takeover. */
interface Takeover {
  history: number;
  /** Without a snapshot: the new leader folded the whole log. */
  baseline: boolean;
  rebuiltMs: number;
  firstDispatchMs: number;
  /** From the kill to the probe's first assignment: the lease's expiry plus the takeover. */
  killToDispatchMs: number;
  restored: number;
  read: number;
  /** Tasks the new leader held once it led (live ones; finished ones are dropped). */
  tasks: number;
  leaderRssBytes: number;
}

const USAGE = `usage: bash bench/run.sh --takeover [options]
  --history LIST          finished tasks in the log before the takeovers (1000,1000000)
  --history-via append|api  how: appended to the log by the bench, 64 in flight (append, the default:
                          a million in minutes), or submitted over REST and drained by an SDK worker (api)
  --live N                live (queued) tasks at each takeover (10000)
  --runs N                takeovers per history size (3)
  --no-baseline           skip the takeover without a snapshot (the whole log folded)
  --partitions N          (8)
  --snapshot-interval-ms  the leaders' snapshot interval (5000; the default 30,000 only waits longer)
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
 * TaskAssigned, TaskStarted, TaskSucceeded) in one call, fenced by the leader's epoch as the
 * dispatcher's own writes are (so none lands in the intake). 64 calls in flight.
 */
async function appendHistory(
  cluster: Cluster,
  redisUrl: string,
  epoch: number,
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
        await log.append(newId(at), 0, succeededLife(at, null, spec), { epoch });
      }
    };
    await Promise.all(Array.from({ length: 64 }, lane));
  } finally {
    redis.disconnect();
  }
}

async function takeOver(cluster: Cluster, history: number, baseline: boolean): Promise<Takeover> {
  const leader = await cluster.waitLeader(60_000);
  const epoch = await cluster.epochOf(leader);
  // The leader's snapshot must cover the log as it is now: the takeover then reads nothing before it.
  await cluster.waitSnapshots(epoch, await cluster.heads(), 120_000);
  const standby = await cluster.startDispatcher(false);
  await sleep(500); // campaigning: its watch on the leader key is in place
  const probe = firstDispatch(standby.grpcAddress, TASK_TYPE, { timeoutMs: 900_000 });
  const killedAt = now();
  cluster.kill(leader);
  if (baseline) await cluster.dropSnapshots();
  try {
    const { assignedAt } = await probe.done;
    const timing = await cluster.takeoverOf(standby);
    const leading = cluster.leading.get(standby.role);
    return {
      history,
      baseline,
      ...timing,
      killToDispatchMs: assignedAt - killedAt,
      restored: leading?.restored ?? Number.NaN,
      read: leading?.read ?? Number.NaN,
      tasks: leading?.tasks ?? Number.NaN,
      leaderRssBytes: rssOf(standby.child.pid),
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
    let started = now();
    if (options.historyVia === "api") await submit(cluster, history, true);
    else await appendHistory(cluster, services.redisUrl, await cluster.epochOf(first), history);
    log(`${formatNumber(history)} finished tasks in the log (${((now() - started) / 1000).toFixed(0)} s)`);
    started = now();
    await submit(cluster, options.live, false);
    log(`${formatNumber(options.live)} live tasks queued (${((now() - started) / 1000).toFixed(0)} s)`);
    const plan = [...Array<boolean>(options.runs).fill(false), ...(options.baseline ? [true] : [])];
    for (const [i, baseline] of plan.entries()) {
      const takeover = await takeOver(cluster, history, baseline);
      log(
        `history ${formatNumber(history)}, takeover ${i + 1}/${plan.length}${baseline ? " (no snapshot)" : ""}: ` +
          `rebuilt ${takeover.rebuiltMs.toFixed(0)} ms, first dispatch ${takeover.firstDispatchMs.toFixed(0)} ms ` +
          `after the lease (${takeover.killToDispatchMs.toFixed(0)} ms after the kill); ` +
          `${takeover.restored} tasks from snapshots, ${takeover.read} events read`,
      );
      takeovers.push(takeover);
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
  for (const history of options.histories) {
    for (const baseline of [false, true]) {
      const of = takeovers.filter((t) => t.history === history && t.baseline === baseline);
      if (of.length === 0) continue;
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
        "lease → rebuilt, ms",
        "lease → first dispatch, ms",
        "kill → first dispatch, ms",
        "tasks from snapshots",
        "events read after them",
        "new leader RSS",
      ],
      rows,
    ),
    "## How it is measured",
    [
      "- Per history size, an API and a leading dispatcher (`taskstream serve`, 8 partitions, their own key",
      "  prefix). " +
        (options.historyVia === "api"
          ? "The history is made through the API: REST batches of 1,000, drained by one TypeScript SDK worker (50 slots)."
          : "The history is appended straight to the log by the bench, with the append script and encoding the API and " +
            "the dispatcher use: each task's TaskSubmitted, TaskAssigned, TaskStarted and TaskSucceeded in one call, " +
            "fenced by the leader's epoch (`--history-via api` makes it through the API and an SDK worker instead)."),
      "  Every finished task has its four events in the log; nothing is archived (the default retention of 7",
      "  days). Then the live tasks are submitted over REST with no worker connected: they stay QUEUED.",
      `- Each takeover waits until the leader's snapshot (every ${formatNumber(options.snapshotIntervalMs)} ms here) covers the log, starts a`,
      "  standby dispatcher, points a raw-protocol worker at it that retries every 10 ms (the SDK's reconnect",
      "  backoff would blur the figure), then kills the leader with SIGKILL. The new leader times itself",
      "  (`taskstream_dispatcher_takeover_seconds`): from its lease being granted to its live state folded and",
      "  work accepted (rebuilt), and to its first assignment sent (first dispatch). Kill → first dispatch is",
      "  seen by the probe and adds the wait for the dead leader's lease to expire (TTL 10 s).",
      "- The new leader is the next one killed; the last takeover of each size deletes the snapshots right",
      "  after the kill, so that leader folds the whole log, as every leader did before snapshots.",
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
