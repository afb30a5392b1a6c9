/**
 * A Taskstream worker process: the TypeScript SDK's Worker with `slots` slots and a no-op handler.
 * Start latency is taken at handler entry; completion when the dispatcher's ack arrives, i.e. once
 * TaskSucceeded is appended to the log (the SDK's "completed" event only means "sent").
 */
import { Worker } from "../../sdk/typescript/src/index.ts";
import { TASK_TYPE, type BenchPayload } from "../protocol.ts";
import { runWorkerProcess } from "../worker-harness.ts";

await runWorkerProcess(async (config, recorder) => {
  const submittedAt = new Map<string, number>();
  const quiet = { debug() {}, info() {}, warn: console.warn, error: console.error };
  const worker = new Worker({
    addresses: config.dispatcherAddresses ?? [config.dispatcherAddress!],
    name: `bench-${config.index}`,
    slots: config.slots,
    logger: quiet,
    handlers: {
      [TASK_TYPE]: async (payload, ctx) => {
        recorder.onStart(payload);
        submittedAt.set(ctx.taskId, (payload as BenchPayload).t);
        return null;
      },
    },
  });
  worker.on("ack", ({ taskId, accepted }) => {
    const t = submittedAt.get(taskId);
    submittedAt.delete(taskId);
    if (accepted) recorder.onComplete(t);
    else recorder.onFailed();
  });
  worker.on("failed", () => recorder.onFailed());
  return {
    start: () => worker.start(),
    stop: () => worker.stop({ graceMs: 2000, settleMs: 500, flushMs: 2000 }),
  };
});
