/**
 * The benchmark runner: Taskstream and BullMQ side by side on the same Redis, scenario by scenario
 * (see bench/README.md), repeated `--runs` times; writes bench/RESULTS.md and ends with one JSON line.
 * Started by bench/run.sh, which provides Node 24, the services and their URLs.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Redis } from "ioredis";
import { BullmqSystem } from "./bullmq/system.ts";
import { describeMachine } from "./machine.ts";
import { parseOptions, type BenchOptions } from "./options.ts";
import { liveChildren, OUT, ROOT } from "./proc.ts";
import { benchServices, formatMarkdown } from "./setup.ts";
import { profileReport } from "./profile-summary.ts";
import { renderResults } from "./report.ts";
import { Results } from "./results.ts";
import { drainScenario, drainTag } from "./scenarios/drain.ts";
import { steadyScenario } from "./scenarios/steady.ts";
import { submissionScenario } from "./scenarios/submission.ts";
import { now } from "./stats.ts";
import { summarize } from "./summary.ts";
import type { SystemUnderTest } from "./system.ts";
import { TaskstreamSystem } from "./taskstream/system.ts";

/** Runs one scenario of one system; a failure is noted and the run goes on with the next. */
async function attempt(results: Results, what: string, work: () => Promise<void>): Promise<void> {
  const started = now();
  console.error(`bench: ▶ ${what}`);
  try {
    await work();
  } catch (error) {
    results.note(`${what} failed: ${error instanceof Error ? error.message : String(error)}`);
  }
  console.error(`bench: ◀ ${what} (${((now() - started) / 1000).toFixed(1)} s)`);
}

async function runAll(options: BenchOptions, systems: SystemUnderTest[], results: Results): Promise<void> {
  const { scenarios, shape } = options;
  const steady = {
    seconds: options.seconds,
    warmupSeconds: options.warmupSeconds,
    ...shape,
    maxInFlight: 5000,
  };
  const drain = {
    tasks: options.drainTasks,
    preloadBatch: 1000,
    preloadConcurrency: 2,
    memory: null,
    pauseProjector: options.pauseProjector,
  };
  const memoryOnDrain = scenarios.has("memory") && options.memoryTasks === 0;
  for (let run = 1; run <= options.runs; run++) {
    // Alternate which system goes first, so neither always runs on a warmer (or fuller) machine.
    const order = run % 2 === 1 ? systems : [...systems].reverse();
    const label = (system: SystemUnderTest, what: string) =>
      `run ${run}/${options.runs} ${system.name} ${what}`;
    for (const system of order) {
      if (!scenarios.has("submit")) break;
      await attempt(results, label(system, "(a) submission"), () =>
        submissionScenario(
          system,
          { seconds: options.submitSeconds, singleConcurrency: 64, batch: 100, batchConcurrency: 4 },
          results,
        ),
      );
    }
    for (const drainShape of [shape, ...options.extraDrainShapes]) {
      for (const system of order) {
        if (!scenarios.has("drain")) break;
        const measureMemory = memoryOnDrain && run === options.runs && drainShape === shape;
        await attempt(
          results,
          label(system, `(b) drain ${drainTag({ ...drainShape, priorities: false })}`),
          () =>
            drainScenario(
              system,
              {
                ...drain,
                ...drainShape,
                priorities: false,
                memory: measureMemory ? { extrapolateTo: options.memoryTarget } : null,
              },
              results,
            ),
        );
      }
    }
    for (const system of order) {
      if (!scenarios.has("steady")) break;
      await attempt(results, label(system, "(c)(d) steady state"), () =>
        steadyScenario(system, { ...steady, rates: options.rates, priorities: false }, results),
      );
    }
    for (const system of order) {
      if (!scenarios.has("priority")) break;
      await attempt(results, label(system, "(e) drain with priorities"), () =>
        drainScenario(system, { ...drain, ...shape, priorities: true }, results),
      );
      await attempt(results, label(system, "(e) steady state with priorities"), () =>
        steadyScenario(system, { ...steady, rates: options.priorityRates, priorities: true }, results),
      );
    }
  }
  if (scenarios.has("memory") && options.memoryTasks > 0) {
    for (const system of systems) {
      await attempt(results, `${system.name} (f) memory after ${options.memoryTasks} tasks`, () =>
        drainScenario(
          system,
          {
            ...drain,
            ...shape,
            tasks: options.memoryTasks,
            priorities: false,
            memory: { extrapolateTo: options.memoryTasks },
            tag: "memory",
          },
          results,
        ),
      );
    }
  }
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const startedAt = new Date();
  const started = now();
  const runId = Date.now().toString(36);
  const { redisUrl, etcdEndpoints, pgUrl } = await benchServices();
  mkdirSync(OUT, { recursive: true });
  const profileDir = options.cpuProf ? join(OUT, "profiles", runId) : null;
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: null });
  try {
    const machine = await describeMachine(redis, pgUrl);
    const redisAddress = new URL(redisUrl);
    const all: SystemUnderTest[] = [
      new TaskstreamSystem({
        redis,
        redisUrl,
        etcdEndpoints,
        pgUrl,
        layout: options.layout,
        partitions: options.partitions,
        profileDir,
        runId,
      }),
      new BullmqSystem({
        redis,
        host: redisAddress.hostname,
        port: Number(redisAddress.port || 6379),
        runId,
      }),
    ];
    const systems = all.filter((s) => options.systems.includes(s.name));
    console.error(
      `bench: ${options.quick ? "quick" : "full"} run ${runId}: ${options.runs} run(s), ` +
        `scenarios ${[...options.scenarios].join(",")}, systems ${options.systems.join(",")}; logs in bench/out/logs/`,
    );
    const results = new Results();
    await runAll(options, systems, results);
    const elapsedS = (now() - started) / 1000;
    const summary = summarize(results, options, elapsedS);
    const markdown = await formatMarkdown(
      renderResults({ results, options, machine, summary, startedAt, elapsedS }),
      "bench/RESULTS.md",
    );
    writeFileSync(join(OUT, `results-${runId}.md`), markdown);
    writeFileSync(join(OUT, `results-${runId}.json`), JSON.stringify({ summary, figures: results }, null, 1));
    if (options.write) writeFileSync(join(ROOT, "bench", "RESULTS.md"), markdown);
    if (profileDir) {
      const report = profileReport(profileDir);
      writeFileSync(join(profileDir, "summary.txt"), report);
      console.error(`bench: CPU profiles in ${profileDir}${report}`);
    }
    if (liveChildren() > 0)
      console.error(`bench: warning: ${liveChildren()} child process(es) still running`);
    console.log(JSON.stringify(summary));
  } finally {
    redis.disconnect();
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(`bench: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    process.exit(1);
  },
);
