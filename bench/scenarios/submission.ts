import { Producer } from "../fleet.ts";
import type { Results } from "../results.ts";
import { summarize } from "../stats.ts";
import type { SystemUnderTest } from "../system.ts";

export interface SubmissionSettings {
  seconds: number;
  /** In-flight calls of the single-task variants. */
  singleConcurrency: number;
  batch: number;
  batchConcurrency: number;
}

/**
 * (a) Submission throughput: closed loops of single-task calls and of batched calls, per transport,
 * with no worker connected (Taskstream's dispatcher and projector still follow the log).
 */
export async function submissionScenario(
  system: SystemUnderTest,
  settings: SubmissionSettings,
  results: Results,
): Promise<void> {
  await system.setup();
  const producer = await Producer.start(system).catch(async (error: unknown) => {
    await system.teardown();
    throw error;
  });
  try {
    for (const [label, transport] of Object.entries(system.submitTransports)) {
      for (const batch of [1, settings.batch]) {
        const concurrency = batch === 1 ? settings.singleConcurrency : settings.batchConcurrency;
        const result = await producer.run({
          kind: "throughput",
          seconds: settings.seconds,
          batch,
          concurrency,
          transport,
          priorities: false,
        });
        const variant = `${label}.${batch === 1 ? "single" : `batch${batch}`}`;
        const key = `submit.${system.name}.${variant}`;
        results.record(`${key}.perS`, result.submitted / (result.elapsedMs / 1000));
        const latency = summarize(result.callLatency);
        results.record(`${key}.callP50Ms`, latency.p50);
        results.record(`${key}.callP99Ms`, latency.p99);
        console.error(
          `bench: ${system.name} submit ${variant}: ${Math.round(result.submitted / (result.elapsedMs / 1000))}/s` +
            ` (call p50 ${latency.p50.toFixed(2)} ms, p99 ${latency.p99.toFixed(2)} ms)`,
        );
      }
    }
  } finally {
    await producer.stop();
    await system.teardown();
  }
}
