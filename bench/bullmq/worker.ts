/**
 * A BullMQ worker process: `Worker` with concurrency `slots` and a no-op processor. Start latency is
 * taken at processor entry; completion at the "completed" event, which BullMQ emits after
 * moveToCompleted has written the job's completion to Redis.
 */
import { Worker } from "bullmq";
import type { BenchPayload } from "../protocol.ts";
import { runWorkerProcess } from "../worker-harness.ts";

await runWorkerProcess(async (config, recorder) => {
  const worker = new Worker<BenchPayload>(
    config.queue!,
    async (job) => {
      recorder.onStart(job.data);
      return null;
    },
    {
      connection: { ...config.redis!, maxRetriesPerRequest: null },
      prefix: config.prefix!,
      concurrency: config.slots,
      autorun: false,
    },
  );
  worker.on("completed", (job) => recorder.onComplete(job.data.t));
  worker.on("failed", () => recorder.onFailed());
  worker.on("error", (error) => console.error(`bullmq worker: ${error.message}`));
  await worker.waitUntilReady();
  return {
    start: () => {
      worker.run().catch((error: unknown) => console.error(`bullmq worker run: ${String(error)}`));
    },
    stop: () => worker.close(),
  };
});
