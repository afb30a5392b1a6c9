import type { BenchOptions } from "./options.ts";
import type { Results } from "./results.ts";
import { drainTag } from "./scenarios/drain.ts";
import { round } from "./stats.ts";

/** The runner's last line: the headline figures (medians over the runs), side by side. */
export interface Summary {
  ratio: number | null;
  taskstreamDrainPerS: number | null;
  bullmqDrainPerS: number | null;
  p99StartMsAt2000: number | null;
  bullmqP99StartMsAt2000: number | null;
  projectionLagP99Ms: number | null;
  [figure: string]: number | string | boolean | null;
}

/** Bytes of Redis per task: exact MEMORY USAGE of the system's keys after N tasks, divided by N. */
export function bytesPerTask(
  results: Results,
  system: "taskstream" | "bullmq",
  stage: "finished" | "live" | "archived" = "finished",
): number {
  const memory = results.memory.get(system);
  const report =
    stage === "finished" ? memory?.afterDrain : stage === "live" ? memory?.queued : memory?.archived?.report;
  return memory && report ? report.totalBytes / memory.tasks : Number.NaN;
}

export function summarize(results: Results, options: BenchOptions, elapsedS: number): Summary {
  const tag = drainTag({ ...options.shape, priorities: false });
  const prioTag = drainTag({ ...options.shape, priorities: true });
  const m = (key: string) => results.median(key);
  const ts = m(`drain.taskstream.${tag}.perS`);
  const bull = m(`drain.bullmq.${tag}.perS`);
  const steady = (system: string, figure: string) => m(`steady.${system}.fifo.2000.${figure}`);
  const startP99 = steady("taskstream", "startP99Ms");
  const bullStartP99 = steady("bullmq", "startP99Ms");
  const lagP99 = steady("taskstream", "lagP99Ms");
  return {
    ratio: round(ts / bull, 3),
    taskstreamDrainPerS: round(ts, 0),
    bullmqDrainPerS: round(bull, 0),
    p99StartMsAt2000: round(startP99, 2),
    bullmqP99StartMsAt2000: round(bullStartP99, 2),
    projectionLagP99Ms: round(lagP99, 1),
    projectionLagP99MsHistogram: round(steady("taskstream", "lagHistP99Ms"), 1),
    p50StartMsAt2000: round(steady("taskstream", "startP50Ms"), 2),
    bullmqP50StartMsAt2000: round(steady("bullmq", "startP50Ms"), 2),
    p99CompleteMsAt2000: round(steady("taskstream", "completeP99Ms"), 2),
    bullmqP99CompleteMsAt2000: round(steady("bullmq", "completeP99Ms"), 2),
    startP99RatioAt2000: round(startP99 / bullStartP99, 2),
    priorityDrainRatio: round(m(`drain.taskstream.${prioTag}.perS`) / m(`drain.bullmq.${prioTag}.perS`), 3),
    redisBytesPerTask: round(bytesPerTask(results, "taskstream"), 0),
    redisBytesPerLiveTask: round(bytesPerTask(results, "taskstream", "live"), 0),
    redisBytesPerArchivedTask: round(bytesPerTask(results, "taskstream", "archived"), 1),
    bullmqRedisBytesPerJob: round(bytesPerTask(results, "bullmq"), 0),
    mode: options.quick ? "quick" : "full",
    ...(options.pauseProjector ? { projectorPausedDuringDrains: true } : {}),
    runs: options.runs,
    workers: options.shape.workers,
    slots: options.shape.slots,
    drainTasks: options.drainTasks,
    elapsedS: round(elapsedS, 0),
    notes: results.notes.length,
  };
}

/** The targets, each with its measured value and whether it is met (null: not measured). */
export function targets(summary: Summary): { target: string; measured: string; met: boolean | null }[] {
  const n = (v: number | string | boolean | null | undefined) => (typeof v === "number" ? v : null);
  const ratio = n(summary.ratio);
  const p99 = n(summary.p99StartMsAt2000);
  const bullP99 = n(summary.bullmqP99StartMsAt2000);
  const lag = n(summary.projectionLagP99Ms);
  const bytes = n(summary.redisBytesPerTask);
  const live = n(summary.redisBytesPerLiveTask);
  const archived = n(summary.redisBytesPerArchivedTask);
  return [
    {
      target: "drain ratio ≥ 1.0 (event history and projection on)",
      measured: ratio === null ? "–" : `${ratio}`,
      met: ratio === null ? null : ratio >= 1,
    },
    {
      target: "submit→start p99 at 2,000/s ≤ 2 × BullMQ's",
      measured:
        p99 === null || bullP99 === null
          ? "–"
          : `${p99} ms vs ${bullP99} ms (${(p99 / bullP99).toFixed(2)}×)`,
      met: p99 === null || bullP99 === null ? null : p99 <= 2 * bullP99,
    },
    {
      target: "projection lag p99 < 1 s at 2,000/s",
      measured: lag === null ? "–" : `${lag} ms`,
      met: lag === null ? null : lag < 1000,
    },
    {
      target: "Redis bytes per task measured and explained",
      measured: bytes === null ? "–" : `${bytes} B/task (see (f))`,
      met: bytes === null ? null : true,
    },
    {
      target: "(f) Redis bytes per live task ≤ 600",
      measured: live === null ? "–" : `${live} B/task`,
      met: live === null ? null : live <= 600,
    },
    {
      target: "(f) Redis bytes per finished task after archiving ~0 (≤ 10)",
      measured: archived === null ? "–" : `${archived} B/task`,
      met: archived === null ? null : archived <= 10,
    },
  ];
}
