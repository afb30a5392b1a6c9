/** A BullMQ producer process: `Queue.add` for one job per call, `Queue.addBulk` for batches. */
import { Queue } from "bullmq";
import { runProducerProcess, type BenchTask } from "../producer-harness.ts";
import { TASK_TYPE, bullmqPriority, type BenchPayload } from "../protocol.ts";

await runProducerProcess((config) => {
  const queue = new Queue<BenchPayload>(config.queue!, {
    connection: { ...config.redis! },
    prefix: config.prefix!,
  });
  const opts = (task: BenchTask) =>
    task.priority === undefined ? undefined : { priority: bullmqPriority(task.priority) };
  return {
    one: async (task) => void (await queue.add(TASK_TYPE, task.payload, opts(task))),
    many: async (tasks) =>
      void (await queue.addBulk(
        tasks.map((task) => ({ name: TASK_TYPE, data: task.payload, opts: opts(task) })),
      )),
    close: () => queue.close(),
  };
});
