/**
 * The soak (`npm run bench -- --soak MINUTES`): Taskstream with every role on offers 2,000 single
 * submissions a second (gRPC, open loop) for MINUTES with a retention of one minute, so finished
 * tasks keep moving from Redis to the PostgreSQL archive, and samples every 10 s: Redis
 * `used_memory`, each role's RSS, the archive's size, projection lag and submit → start p99. Redis
 * memory and RSS should plateau: over the last five minutes each within ±10% of its mean. Once,
 * at 40% of the run, one of the two dispatchers is killed (SIGKILL) and the other's takeover of its
 * partitions is reported. Writes bench/SOAK.md and bench/soak.svg, and ends with one JSON line.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { setTimeout as sleep } from "node:timers/promises";
import { Redis } from "ioredis";
import pg from "pg";
import { Producer, WorkerGroup } from "./fleet.ts";
import { describeMachine } from "./machine.ts";
import { OUT, ROOT } from "./proc.ts";
import { table } from "./report.ts";
import { redisInfo, streamEntries } from "./redis-admin.ts";
import { benchServices, formatMarkdown } from "./setup.ts";
import {
  bucketDelta,
  bucketQuantile,
  formatNumber,
  now,
  parseCounter,
  parseHistogram,
  round,
  summarize,
} from "./stats.ts";
import { chart } from "./svg-chart.ts";
import { Cluster } from "./taskstream/cluster.ts";
import { scrape, type ServerProcess } from "./taskstream/servers.ts";
import { partitionKeys } from "../event-store/keys.ts";

interface SoakOptions {
  minutes: number;
  rate: number;
  retentionMs: number;
  sampleSeconds: number;
  /** When the first dispatcher is killed, in seconds from the start; null: never. */
  killAtSeconds: number | null;
  workers: number;
  slots: number;
  partitions: number;
  write: boolean;
  /** Re-render the report from a run's saved figures (bench/out/soak-<run>.json) instead of running. */
  render: string | null;
}

interface Sample {
  /** Minutes since the load started. */
  t: number;
  usedMemory: number;
  streamEntries: number;
  rss: Record<string, number>;
  /** Bytes of the archive's tables and indexes that this run added. */
  archiveBytes: number;
  archivedTasks: number;
  /** Age of the oldest event the read model has not folded, at the sample (s). */
  backlogAgeS: number;
  /** The projector's lag histogram over the window (per batch, newest event's age at commit). */
  lagP99Ms: number;
  startP50Ms: number;
  startP99Ms: number;
  started: number;
  completed: number;
  load1: number;
}

interface Failover {
  killedAtMin: number;
  /** The slowest partition taken over: claim granted → rebuilt, and → first dispatch. */
  rebuiltMs: number;
  firstDispatchMs: number;
  /** Partitions taken over (absent in runs made before partition ownership). */
  partitions?: number;
  /** Kill → the workers start tasks again: the SDK's reconnect (and, for the killed dispatcher's partitions, lease expiry and takeover). */
  killToResumeMs: number;
}

const USAGE = `usage: bash bench/run.sh --soak MINUTES [options]
  --rate N               offered submissions per second (2000)
  --retention-ms N       TASKSTREAM_RETENTION_MS (60000)
  --sample-seconds N     (10)
  --kill-at-minute M     when the first dispatcher is killed (40% of the run); -1: never
  --workers W --slots C  SDK worker processes × slots (1 × 50)
  --partitions N         (8)
  --no-write             do not regenerate bench/SOAK.md and bench/soak.svg
  --render FILE          no run: the report again from a run's bench/out/soak-<run>.json`;

function parseOptions(argv: string[]): SoakOptions {
  const { values, positionals } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: true,
    options: {
      soak: { type: "string" },
      rate: { type: "string", default: "2000" },
      "retention-ms": { type: "string", default: "60000" },
      "sample-seconds": { type: "string", default: "10" },
      "kill-at-minute": { type: "string" },
      workers: { type: "string", default: "1" },
      slots: { type: "string", default: "50" },
      partitions: { type: "string", default: "8" },
      "no-write": { type: "boolean" },
      render: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  if (positionals.length > 0) throw new Error(`unexpected ${positionals.join(" ")}\n${USAGE}`);
  const number = (name: string, text: string | undefined, fallback: number) => {
    const n = text === undefined ? fallback : Number(text);
    if (!Number.isFinite(n)) throw new Error(`--${name} must be a number\n${USAGE}`);
    return n;
  };
  const minutes = number("soak", values.soak, 20);
  if (minutes <= 0) throw new Error(`--soak MINUTES must be positive\n${USAGE}`);
  const killAt = number("kill-at-minute", values["kill-at-minute"], minutes * 0.4);
  return {
    minutes,
    rate: number("rate", values.rate, 2000),
    retentionMs: number("retention-ms", values["retention-ms"], 60_000),
    sampleSeconds: Math.max(1, number("sample-seconds", values["sample-seconds"], 10)),
    killAtSeconds: killAt < 0 ? null : killAt * 60,
    workers: Math.max(1, number("workers", values.workers, 1)),
    slots: Math.max(1, number("slots", values.slots, 50)),
    partitions: Math.max(1, number("partitions", values.partitions, 8)),
    write: values["no-write"] !== true,
    render: values.render ?? null,
  };
}

const log = (text: string) => console.error(`soak: ${text}`);
const MiB = 2 ** 20;

/** Bytes of every partition of the archive table (data, indexes, TOAST). */
async function archiveBytes(db: pg.Client): Promise<number> {
  const { rows } = await db.query<{ bytes: string | null }>(
    `select sum(pg_total_relation_size(i.inhrelid)) as bytes
       from pg_inherits i where i.inhparent = 'task_event_archive'::regclass`,
  );
  return Number(rows[0]?.bytes ?? 0);
}

/** Within ±`pct`% of the mean over the window: mean and the largest deviation, in %. */
function plateau(values: number[], pct = 10) {
  const finite = values.filter(Number.isFinite);
  const mean = finite.reduce((a, b) => a + b, 0) / Math.max(1, finite.length);
  const deviation =
    finite.length === 0 ? Number.NaN : Math.max(...finite.map((v) => Math.abs(v - mean) / mean)) * 100;
  return { mean, deviationPct: deviation, flat: Number.isFinite(deviation) && deviation <= pct };
}

interface Run {
  startedAt: Date;
  runId: string;
  machine: Record<string, string>;
  samples: Sample[];
  failover: Failover | null;
}

/** What the load achieved: tasks submitted, over how long, how many the workers saw completed. */
interface Outcome {
  submitted: number;
  sendSpanMs: number;
  completed: number;
  drained: boolean;
}

/** The plateau check, SOAK.md, soak.svg and the JSON line, from the samples of a run. */
async function report(
  options: SoakOptions,
  { startedAt, runId, machine, samples, failover }: Run,
  run: Outcome,
) {
  // The plateau is judged over the last five minutes under load: the sample taken after the drain
  // (load stopped, everything archived, the processes idle) is shown but not counted.
  const underLoad = samples.length > 1 ? samples.slice(0, -1) : samples;
  const last = samples.at(-1)!;
  const lastUnderLoad = underLoad.at(-1)!;
  const window = underLoad.filter((s) => s.t >= lastUnderLoad.t - 5);
  const redisPlateau = plateau(window.map((s) => s.usedMemory));
  const roles = Object.keys(samples[0]?.rss ?? {});
  const rssPlateau = Object.fromEntries(
    roles.map((role) => [role, plateau(window.map((s) => s.rss[role] ?? Number.NaN))]),
  );
  const afterKill = (s: Sample) =>
    failover !== null && s.t > failover.killedAtMin && s.t <= failover.killedAtMin + 1;
  const steadyP99 = samples.filter((s) => !afterKill(s)).map((s) => s.startP99Ms);
  const summary = {
    soak: {
      minutes: options.minutes,
      offeredPerS: options.rate,
      achievedPerS: round(run.submitted / Math.max(options.minutes * 60, run.sendSpanMs / 1000), 0),
      tasks: run.submitted,
      completed: run.completed,
      drained: run.drained,
      retentionMs: options.retentionMs,
      redisUsedMemoryMiB: round(redisPlateau.mean / MiB, 1),
      redisDeviationPct: round(redisPlateau.deviationPct, 1),
      rssMiB: Object.fromEntries(roles.map((role) => [role, round(rssPlateau[role]!.mean / MiB, 0)])),
      rssDeviationPct: Object.fromEntries(
        roles.map((role) => [role, round(rssPlateau[role]!.deviationPct, 1)]),
      ),
      plateau: redisPlateau.flat && Object.values(rssPlateau).every((p) => p.flat),
      archiveMiB: round(last.archiveBytes / MiB, 1),
      archivedTasks: last.archivedTasks,
      projectionLagP99Ms: round(Math.max(...samples.map((s) => s.lagP99Ms).filter(Number.isFinite)), 0),
      startP99MsWorstWindow: round(Math.max(...steadyP99.filter(Number.isFinite)), 1),
      startP99MsMedianWindow: round(summarize(steadyP99.filter(Number.isFinite)).p50, 1),
      takeover: failover && {
        killedAtMin: round(failover.killedAtMin, 1),
        rebuiltMs: round(failover.rebuiltMs, 0),
        firstDispatchMs: round(failover.firstDispatchMs, 0),
        ...(failover.partitions === undefined ? {} : { partitions: failover.partitions }),
        killToResumeMs: round(failover.killToResumeMs, 0),
      },
      load1Mean: round(samples.reduce((a, s) => a + s.load1, 0) / samples.length, 1),
    },
  };

  const svg = chart(
    `Soak: ${options.rate}/s for ${options.minutes} min, retention ${options.retentionMs / 1000} s`,
    [
      {
        title: "Memory",
        yLabel: "MiB",
        series: [
          {
            name: "Redis used_memory",
            color: "#d62728",
            points: samples.map((s) => [s.t, s.usedMemory / MiB]),
          },
          ...roles.map((role, i) => ({
            name: `RSS ${role}`,
            color: ["#1f77b4", "#2ca02c", "#9467bd", "#8c564b"][i % 4]!,
            points: samples.map((s): [number, number] => [s.t, (s.rss[role] ?? Number.NaN) / MiB]),
          })),
        ],
      },
      {
        title: "PostgreSQL event archive (added by this run)",
        yLabel: "MiB",
        series: [
          {
            name: "archive size",
            color: "#ff7f0e",
            points: samples.map((s) => [s.t, s.archiveBytes / MiB]),
          },
        ],
      },
      {
        title: "Latency per 10 s window",
        yLabel: "ms",
        series: [
          { name: "submit → start p99", color: "#1f77b4", points: samples.map((s) => [s.t, s.startP99Ms]) },
          { name: "projection lag p99", color: "#2ca02c", points: samples.map((s) => [s.t, s.lagP99Ms]) },
        ],
      },
    ],
    Math.max(options.minutes, last.t),
    failover ? [{ x: failover.killedAtMin, label: "dispatcher killed" }] : [],
  );
  const rows = samples.map((s) => [
    s.t.toFixed(1),
    (s.usedMemory / MiB).toFixed(1),
    formatNumber(s.streamEntries),
    ...roles.map((role) => formatNumber((s.rss[role] ?? Number.NaN) / MiB, 0)),
    (s.archiveBytes / MiB).toFixed(1),
    formatNumber(s.archivedTasks),
    formatNumber(s.lagP99Ms, 0),
    s.backlogAgeS.toFixed(1),
    formatNumber(s.startP50Ms, 1),
    formatNumber(s.startP99Ms, 1),
    formatNumber(s.completed),
    s.load1.toFixed(1),
  ]);
  const markdown = [
    "# Soak: memory, archive and latency over a long run",
    `Generated by \`npm run bench -- --soak ${options.minutes}${options.rate === 2000 ? "" : ` --rate ${options.rate}`}\` (bench/soak.ts) on ${startedAt.toISOString()}. ` +
      "Regenerated by every run — do not edit.",
    "## Machine",
    table(
      ["", ""],
      Object.entries(machine).map(([k, v]) => [k, v]),
    ),
    "## Result",
    "```json\n" + JSON.stringify(summary) + "\n```",
    "![Redis memory, RSS per role, archive size and latency over the run](soak.svg)",
    [
      `- Load: ${formatNumber(options.rate)} single submissions a second over gRPC (the SDK client, open loop), ` +
        `${options.workers} × ${options.slots} TypeScript SDK worker slots, no-op handler; roles as separate`,
      "  `taskstream serve` processes: api | projector + read-api (+ the archiver) | two dispatchers (sharing the partitions).",
      `- Retention ${formatNumber(options.retentionMs)} ms (\`TASKSTREAM_RETENTION_MS\`); archive rounds every 10 s (the default).`,
      `- A sample every ${options.sampleSeconds} s: Redis \`used_memory\` (the Redis holds this run alone), RSS of each`,
      "  role's process (`dispatcher`: the first started still running), the archive's partitions (tables, indexes, TOAST) grown since the",
      "  start, the projector's lag histogram (p99 over the window, per batch) and backlog age, and submit → handler",
      "  entry as the workers saw it (p50/p99 over the window).",
      "- Plateau: over the last five minutes every memory series within ±10% of its mean.",
      failover
        ? `- At ${failover.killedAtMin.toFixed(1)} min one dispatcher was killed (SIGKILL); the other took over ` +
          (failover.partitions === undefined ? "" : `its ${failover.partitions} partitions, `) +
          `the slowest dispatching ${failover.firstDispatchMs.toFixed(0)} ms after its claim was granted (rebuilt in ` +
          `${failover.rebuiltMs.toFixed(0)} ms); the workers started tasks again ${(failover.killToResumeMs / 1000).toFixed(1)} s ` +
          "after the kill (the SDK's reconnect backoff; the dead dispatcher's partitions wait for its lease to expire, 10 s). " +
          "A new second dispatcher was started after it."
        : "- No dispatcher was killed in this run.",
    ].join("\n"),
    "## Samples",
    table(
      [
        "min",
        "Redis MiB",
        "stream entries",
        ...roles.map((role) => `RSS ${role} MiB`),
        "archive MiB",
        "archived tasks",
        "lag p99 ms",
        "backlog age s",
        "start p50 ms",
        "start p99 ms",
        "completed",
        "load",
      ],
      rows,
    ),
  ].join("\n\n");
  const formatted = await formatMarkdown(markdown, "bench/SOAK.md");
  mkdirSync(OUT, { recursive: true });
  writeFileSync(join(OUT, `soak-${runId}.md`), formatted);
  writeFileSync(join(OUT, `soak-${runId}.svg`), svg);
  writeFileSync(
    join(OUT, `soak-${runId}.json`),
    JSON.stringify({ options, startedAt, machine, outcome: run, summary, samples, failover }, null, 1),
  );
  console.error(formatted);
  if (options.write) {
    writeFileSync(join(ROOT, "bench", "SOAK.md"), formatted);
    writeFileSync(join(ROOT, "bench", "soak.svg"), svg);
  }
  console.log(JSON.stringify(summary));
}

/** The report again from a run's saved figures (its options, samples and outcome; the run's own). */
async function rerender(options: SoakOptions, file: string): Promise<void> {
  const saved = JSON.parse(readFileSync(file, "utf8")) as {
    options?: SoakOptions;
    startedAt?: string;
    machine?: Record<string, string>;
    outcome?: Outcome;
    summary: {
      soak: {
        minutes: number;
        offeredPerS: number;
        retentionMs: number;
        tasks: number;
        completed: number;
        drained: boolean;
      };
    };
    samples: Sample[];
    failover: Failover | null;
  };
  const runId = /soak-([0-9a-z]+)\.json$/.exec(file)?.[1];
  if (runId === undefined) throw new Error(`--render: expected bench/out/soak-<run>.json, got ${file}`);
  const soak = saved.summary.soak;
  const savedOptions: SoakOptions = saved.options ?? {
    ...options,
    minutes: soak.minutes,
    rate: soak.offeredPerS,
    retentionMs: soak.retentionMs,
  };
  let machine = saved.machine;
  if (machine === undefined) {
    const { redisUrl, pgUrl } = await benchServices();
    const redis = new Redis(redisUrl, { maxRetriesPerRequest: null });
    machine = await describeMachine(redis, pgUrl).finally(() => redis.disconnect());
  }
  await report(
    { ...savedOptions, write: options.write, render: null },
    {
      startedAt: new Date(saved.startedAt ?? parseInt(runId, 36)),
      runId,
      machine,
      samples: saved.samples,
      failover: saved.failover,
    },
    saved.outcome ?? {
      submitted: soak.tasks,
      sendSpanMs: 0,
      completed: soak.completed,
      drained: soak.drained,
    },
  );
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  if (options.render !== null) return rerender(options, options.render);
  const startedAt = new Date();
  const runId = Date.now().toString(36);
  const { redisUrl, etcdEndpoints, pgUrl } = await benchServices();
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: null });
  const db = new pg.Client({ connectionString: pgUrl });
  await db.connect();
  const cluster = new Cluster({
    redis,
    redisUrl,
    etcdEndpoints,
    pgUrl,
    partitions: options.partitions,
    prefix: `tsbench-${runId}-soak`,
    label: `soak-${runId}`,
    env: { TASKSTREAM_RETENTION_MS: String(options.retentionMs) },
  });
  let group: WorkerGroup | null = null;
  let producer: Producer | null = null;
  const samples: Sample[] = [];
  let failover: Failover | null = null;
  try {
    const machine = await describeMachine(redis, pgUrl);
    const archiveBaseline = await archiveBytes(db);
    await cluster.startProjector();
    await cluster.startApi();
    let sampled: ServerProcess = await cluster.startDispatcher(true);
    await cluster.startDispatcher(true);
    group = await WorkerGroup.start(cluster, options.workers, options.slots);
    producer = await Producer.start(cluster);
    group.go();
    const seconds = options.minutes * 60;
    log(
      `${options.minutes} min at ${options.rate}/s, retention ${options.retentionMs} ms, ` +
        `${options.workers} × ${options.slots} worker slots; logs in bench/out/logs/soak-${runId}-*`,
    );
    const loadStart = now();
    const offered = producer.run({
      kind: "rate",
      rate: options.rate,
      seconds,
      transport: "grpc",
      priorities: false,
      maxInFlight: 5000,
    });
    let offeredDone = false;
    void offered.finally(() => (offeredDone = true)).catch(() => undefined);

    const projector = cluster.projector!;
    let lagBefore = parseHistogram(await scrape(projector), "taskstream_projection_lag_seconds");
    const streams = Array.from(
      { length: options.partitions },
      (_, p) => partitionKeys(p, cluster.prefix).events,
    );
    let failing: Promise<Failover> | null = null;

    const sample = async () => {
      const text = await scrape(projector);
      const lagNow = parseHistogram(text, "taskstream_projection_lag_seconds");
      const lag = bucketDelta(lagBefore, lagNow);
      lagBefore = lagNow;
      const { start } = await group!.collect();
      const latency = summarize(start);
      const s: Sample = {
        t: (now() - loadStart) / 60_000,
        usedMemory: (await redisInfo(redis)).usedMemory,
        streamEntries: await streamEntries(redis, streams),
        rss: cluster.rss(sampled),
        archiveBytes: (await archiveBytes(db)) - archiveBaseline,
        archivedTasks: parseCounter(text, "taskstream_archived_tasks_total"),
        backlogAgeS: parseCounter(text, "taskstream_projection_backlog_age_seconds"),
        lagP99Ms: bucketQuantile(lag, 0.99) * 1000,
        startP50Ms: latency.p50,
        startP99Ms: latency.p99,
        started: group!.started,
        completed: group!.completed,
        load1: os.loadavg()[0]!,
      };
      samples.push(s);
      log(
        `${s.t.toFixed(1)} min: Redis ${(s.usedMemory / MiB).toFixed(1)} MiB (${formatNumber(s.streamEntries)} entries), ` +
          `RSS ${Object.entries(s.rss)
            .map(([role, bytes]) => `${role} ${(bytes / MiB).toFixed(0)}`)
            .join(
              ", ",
            )} MiB, archive ${(s.archiveBytes / MiB).toFixed(1)} MiB (${formatNumber(s.archivedTasks)} tasks), ` +
          `start p99 ${s.startP99Ms.toFixed(1)} ms, lag p99 ${s.lagP99Ms.toFixed(0)} ms, ` +
          `${formatNumber(s.completed)} done, load ${s.load1.toFixed(1)}`,
      );
    };

    const failOver = async (): Promise<Failover> => {
      const victim = sampled;
      const killedAt = now();
      log(`killing ${victim.role}`);
      cluster.kill(victim);
      const survivor = cluster.dispatchers[0]!;
      sampled = survivor;
      await sleep(500); // whatever was assigned before the kill has started by now
      const before = group!.started;
      while (group!.started <= before) await sleep(20);
      const killToResumeMs = now() - killedAt;
      const taken = await cluster.takeover(survivor, killedAt, 120_000);
      const timing = {
        rebuiltMs: Math.max(...taken.map((p) => p.rebuildMs)),
        // A partition without a ready task has no first dispatch (NaN).
        firstDispatchMs: Math.max(...taken.map((p) => p.firstDispatchMs).filter(Number.isFinite)),
      };
      await cluster.startDispatcher(false); // a second dispatcher again; it takes its share by handover
      const result = {
        killedAtMin: (killedAt - loadStart) / 60_000,
        ...timing,
        partitions: taken.length,
        killToResumeMs,
      };
      log(
        `takeover of ${taken.length} partitions by ${survivor.role}: the slowest rebuilt ${timing.rebuiltMs.toFixed(0)} ms ` +
          `and dispatched ${timing.firstDispatchMs.toFixed(0)} ms after its claim (per partition, rebuilt: ` +
          `${taken.map((p) => `${p.partition} ${p.rebuildMs} ms`).join(", ")}); ` +
          `work resumed ${killToResumeMs.toFixed(0)} ms after the kill`,
      );
      return result;
    };

    for (let next = loadStart + options.sampleSeconds * 1000; ; next += options.sampleSeconds * 1000) {
      await sleep(Math.max(0, next - now()));
      if (
        failing === null &&
        options.killAtSeconds !== null &&
        now() - loadStart >= options.killAtSeconds * 1000
      )
        failing = failOver();
      await sample();
      if (offeredDone) break;
    }
    const sent = await offered;
    if (failing) failover = await failing;
    if (sent.errors > 0) log(`${sent.errors} submissions failed: ${sent.firstError}`);
    const drained = await group.waitCompleted(sent.submitted, 120_000);
    await sample();

    await report(
      options,
      { startedAt, runId, machine, samples, failover },
      {
        submitted: sent.submitted,
        sendSpanMs: sent.sendSpanMs,
        completed: group.completed,
        drained,
      },
    );
  } finally {
    await producer?.stop();
    await group?.stop();
    await cluster.stop();
    await db.end().catch(() => undefined);
    redis.disconnect();
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(`soak: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    process.exit(1);
  },
);
