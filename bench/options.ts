import { parseArgs } from "node:util";
import type { SystemName } from "./protocol.ts";
import type { Layout } from "./taskstream/servers.ts";

export const SCENARIOS = ["submit", "drain", "steady", "priority", "memory"] as const;
export type Scenario = (typeof SCENARIOS)[number];

export interface WorkerShape {
  workers: number;
  slots: number;
}

/** Everything a benchmark run is parameterised by; `--quick` and the full run differ only in sizes. */
export interface BenchOptions {
  quick: boolean;
  runs: number;
  scenarios: Set<Scenario>;
  systems: SystemName[];
  /** The headline W × C: drains, steady state and the JSON line's ratio use it. */
  shape: WorkerShape;
  /** Further drain shapes (full run: also 2 × 50). */
  extraDrainShapes: WorkerShape[];
  drainTasks: number;
  rates: number[];
  priorityRates: number[];
  seconds: number;
  warmupSeconds: number;
  submitSeconds: number;
  /** (f): a drain of this many tasks once per system; 0 measures (f) on the headline drain instead. */
  memoryTasks: number;
  /** What (f) is reported for (1,000,000 in the issue); smaller measurements are scaled to it. */
  memoryTarget: number;
  layout: Layout;
  partitions: number;
  cpuProf: boolean;
  /**
   * Diagnostic: the Taskstream projector process is stopped (SIGSTOP) while drains run and resumed
   * before the read model is checked, to measure the write path without the read side beside it.
   * Never part of a headline: implies --no-write.
   */
  pauseProjector: boolean;
  write: boolean;
}

const USAGE = `usage: bash bench/run.sh [--quick] [options]
  --quick                 1 run, 20,000-task drains, 10 s per rate (under 5 minutes)
  --runs N                repetitions (medians with min and max); full default 3
  --only LIST             scenarios: ${SCENARIOS.join(",")}
  --systems LIST          taskstream,bullmq
  --workers W --slots C   headline worker processes × slots (1 × 50)
  --tasks N               tasks per drain (full 100,000)
  --rates LIST            steady-state offered rates per second (1000,2000,5000)
  --seconds S             seconds per rate (full 30)
  --memory-tasks N        (f): a separate drain of N tasks (full 1,000,000; quick: measured on the drain)
  --layout split|single   Taskstream roles in 3 processes (api | dispatcher | projector+read-api) or 1
  --partitions N          Taskstream partitions (8)
  --cpu-prof              profile the Taskstream server and worker processes (bench/out/profiles/)
  --pause-projector       diagnostic: stop the projector during drains, resume it after (implies --no-write)
  --no-write              do not regenerate bench/RESULTS.md`;

const list = (text: string) =>
  text
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);

function positive(name: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const n = Number(text.replaceAll("_", ""));
  if (!Number.isInteger(n) || n < 0)
    throw new Error(`--${name} must be a non-negative integer, got "${text}"`);
  return n;
}

export function parseOptions(argv: string[]): BenchOptions {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      quick: { type: "boolean" },
      runs: { type: "string" },
      only: { type: "string" },
      systems: { type: "string" },
      workers: { type: "string" },
      slots: { type: "string" },
      tasks: { type: "string" },
      rates: { type: "string" },
      seconds: { type: "string" },
      "memory-tasks": { type: "string" },
      layout: { type: "string" },
      partitions: { type: "string" },
      "cpu-prof": { type: "boolean" },
      "pause-projector": { type: "boolean" },
      "no-write": { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const quick = values.quick === true;
  const scenarios = new Set(list(values.only ?? SCENARIOS.join(",")) as Scenario[]);
  for (const s of scenarios) if (!SCENARIOS.includes(s)) throw new Error(`unknown scenario "${s}"\n${USAGE}`);
  const systems = list(values.systems ?? "taskstream,bullmq") as SystemName[];
  const unknown = systems.filter((s) => !["taskstream", "bullmq"].includes(s));
  if (unknown.length > 0) throw new Error(`unknown system(s) ${unknown.join(", ")}`);
  const layout = (values.layout ?? "split") as Layout;
  if (layout !== "split" && layout !== "single") throw new Error(`--layout must be split or single`);
  const pauseProjector = values["pause-projector"] === true;
  if (pauseProjector && layout !== "split")
    throw new Error("--pause-projector needs --layout split (the projector in a process of its own)");
  const shape = {
    workers: positive("workers", values.workers, 1),
    slots: positive("slots", values.slots, 50),
  };
  const rates = values.rates ? list(values.rates).map((r) => positive("rates", r, 0)) : [1000, 2000, 5000];
  const memoryTasks = positive("memory-tasks", values["memory-tasks"], quick ? 0 : 1_000_000);
  return {
    quick,
    runs: Math.max(1, positive("runs", values.runs, quick ? 1 : 3)),
    scenarios,
    systems,
    shape,
    extraDrainShapes: quick || values.workers !== undefined ? [] : [{ workers: 2, slots: 50 }],
    drainTasks: Math.max(1, positive("tasks", values.tasks, quick ? 20_000 : 100_000)),
    rates,
    priorityRates: quick ? [rates.includes(2000) ? 2000 : rates[0]!] : rates,
    seconds: Math.max(1, positive("seconds", values.seconds, quick ? 10 : 30)),
    warmupSeconds: quick ? 1 : 5,
    submitSeconds: quick ? 2 : 10,
    memoryTasks,
    memoryTarget: 1_000_000,
    layout,
    partitions: Math.max(1, positive("partitions", values.partitions, 8)),
    cpuProf: values["cpu-prof"] === true,
    pauseProjector,
    write: values["no-write"] !== true && values["cpu-prof"] !== true && !pauseProjector,
  };
}
