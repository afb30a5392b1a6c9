/**
 * Drain throughput per SDK (`npm run bench -- --sdk-drain`): the same Taskstream write path (API and
 * dispatcher processes, no read side) drains N no-op tasks with one conformance worker of each
 * language in turn, the same slots each, and reports tasks/s and the worker process's CPU µs per
 * task (utime + stime from /proc, as bench/cpu.ts reads it). Ends with one JSON line.
 *
 * Each drain preloads its tasks first (type `drain-<lang>-<run>.echo`, so only that worker takes
 * them), then starts the worker; the clock runs from its ready line to the moment the dispatcher's
 * `taskstream_tasks_succeeded_total` has grown by N. The worker's effects go to /dev/null: the
 * figures include writing two effect lines per task, as in every language.
 */
import { parseArgs } from "node:util";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { TaskstreamClient } from "../sdk/typescript/src/index.ts";
import { detectLanguages, parseLangs, type Lang } from "../tests/conformance/languages.ts";
import { Stack } from "../tests/conformance/stack.ts";
import { WorkerProcess } from "../tests/conformance/worker-process.ts";
import { uniquePrefix } from "../tests/support/services.ts";
import { processCpuMs } from "./cpu.ts";
import { now } from "./stats.ts";

interface Drain {
  lang: Lang;
  perS: number;
  workerCpuUsPerTask: number;
  dispatcherCpuUsPerTask: number;
}

const PRELOAD_BATCH = 500;

/** The dispatcher's count of succeeded tasks, from its /metrics. */
async function succeeded(stack: Stack): Promise<number> {
  const text = await (await fetch(`${stack.dispatcher.httpUrl}/metrics`)).text();
  return Number(/^taskstream_tasks_succeeded_total (\S+)$/m.exec(text)?.[1] ?? 0);
}

async function drainOnce(
  stack: Stack,
  client: TaskstreamClient,
  settings: { lang: Lang; tasks: number; slots: number; run: number; dir: string },
): Promise<Drain> {
  const { lang, tasks, slots, run } = settings;
  const command = detectLanguages().find((entry) => entry.lang === lang);
  if (!command || !("command" in command)) throw new Error(`${lang} worker cannot run`);
  const prefix = `drain-${lang}-${run}`;
  for (let i = 0; i < tasks; i += PRELOAD_BATCH) {
    const count = Math.min(PRELOAD_BATCH, tasks - i);
    await client.submitMany(Array.from({ length: count }, () => ({ type: `${prefix}.echo`, payload: {} })));
  }
  const before = await succeeded(stack);
  const dispatcherPid = stack.dispatcher.child.pid;
  const worker = await WorkerProcess.start({
    lang,
    command: command.command,
    addresses: [stack.dispatcherAddress],
    prefix,
    slots,
    dir: settings.dir,
    effectsPath: "/dev/null",
  });
  const startedAt = now();
  const cpuBefore = { worker: processCpuMs(worker.child.pid), dispatcher: processCpuMs(dispatcherPid) };
  const deadline = Date.now() + 60_000 + tasks * 10;
  try {
    while ((await succeeded(stack)) - before < tasks) {
      if (Date.now() > deadline) throw new Error(`${lang}: the drain did not finish in time${worker.tail()}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const elapsedMs = now() - startedAt;
    const usPerTask = (ms: number) => (ms * 1000) / tasks;
    return {
      lang,
      perS: tasks / (elapsedMs / 1000),
      workerCpuUsPerTask: usPerTask(processCpuMs(worker.child.pid) - cpuBefore.worker),
      dispatcherCpuUsPerTask: usPerTask(processCpuMs(dispatcherPid) - cpuBefore.dispatcher),
    };
  } finally {
    await worker.terminate(10_000);
    await worker.kill();
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: process.argv.slice(2).filter((arg) => arg !== "--sdk-drain"),
    options: {
      tasks: { type: "string", default: "20000" },
      slots: { type: "string", default: "50" },
      runs: { type: "string", default: "1" },
      lang: { type: "string" },
    },
    strict: true,
  });
  const [tasks, slots, runs] = [values.tasks, values.slots, values.runs].map(Number) as [
    number,
    number,
    number,
  ];
  const wanted = values.lang ? parseLangs(values.lang, "--lang") : null;
  const langs: Lang[] = [];
  for (const entry of detectLanguages()) {
    if (wanted && !wanted.includes(entry.lang)) continue;
    if ("command" in entry) langs.push(entry.lang);
    else console.error(`sdk-drain: skipped ${entry.lang}: ${entry.skipped}`);
  }
  if (langs.length === 0) throw new Error("no SDK's conformance worker can run here");

  const stack = new Stack(uniquePrefix("sdk-drain"), { TASKSTREAM_LOG_LEVEL: "error" });
  const dir = mkdtempSync(join(tmpdir(), "taskstream-sdk-drain-"));
  const drains: Drain[] = [];
  let client: TaskstreamClient | null = null;
  try {
    await stack.start();
    client = new TaskstreamClient({ address: stack.apiAddress });
    // Languages take turns within each run, so a drift of the machine touches them all alike.
    for (let run = 1; run <= runs; run++) {
      for (const lang of langs) {
        const drain = await drainOnce(stack, client, { lang, tasks, slots, run, dir });
        console.error(
          `sdk-drain: ${lang} run ${run}: ${Math.round(drain.perS)}/s, ` +
            `worker ${drain.workerCpuUsPerTask.toFixed(1)} µs/task, dispatcher ${drain.dispatcherCpuUsPerTask.toFixed(1)} µs/task`,
        );
        drains.push(drain);
      }
    }
  } finally {
    client?.close();
    await stack.stop();
    rmSync(dir, { recursive: true, force: true });
  }

  const summary = langs.map((lang) => {
    const of = drains.filter((drain) => drain.lang === lang);
    return {
      lang,
      perS: Math.round(median(of.map((d) => d.perS))),
      workerCpuUsPerTask: Number(median(of.map((d) => d.workerCpuUsPerTask)).toFixed(1)),
      dispatcherCpuUsPerTask: Number(median(of.map((d) => d.dispatcherCpuUsPerTask)).toFixed(1)),
    };
  });
  console.log(`\nSDK drain: ${tasks} no-op tasks, 1 worker x ${slots} slots, median of ${runs} run(s)\n`);
  console.log("| SDK | tasks/s | worker CPU µs/task | dispatcher CPU µs/task |");
  console.log("|---|---:|---:|---:|");
  for (const row of summary)
    console.log(`| ${row.lang} | ${row.perS} | ${row.workerCpuUsPerTask} | ${row.dispatcherCpuUsPerTask} |`);
  console.log(`\n${JSON.stringify({ sdkDrain: { tasks, slots, runs, results: summary } })}`);
}

main().catch((error: unknown) => {
  console.error(`sdk-drain: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
