/**
 * What WAIT costs: submissions through the command layer (TaskCommands → RedisEventLog, the API's
 * path without HTTP) against the Redis of TASKSTREAM_REDIS_URL — a cluster when it names several
 * nodes — acknowledged by the master alone, then only once WAIT saw a replica hold them. Closed loop:
 * C producers each submit (with an idempotency key), await the answer and submit again, N
 * submissions per row. `--single URL` adds rows for one Redis node, for comparison.
 * Prints a table, then one JSON line.
 *
 *   node bench/redis-wait.ts [--submissions 4000] [--producers 1,16,64] [--replicas 1] [--single URL]
 */
import { parseArgs } from "node:util";
import { TaskCommands } from "../commands/task-commands.ts";
import { RedisEventLog } from "../event-store/redis-event-log.ts";
import { connectRedis, deleteKeys, isCluster, type RedisClient } from "../event-store/redis-client.ts";
import { now, summarize } from "./stats.ts";

const { values } = parseArgs({
  options: {
    submissions: { type: "string", default: "4000" },
    producers: { type: "string", default: "1,16,64" },
    replicas: { type: "string", default: "1" },
    "timeout-ms": { type: "string", default: "1000" },
    single: { type: "string" },
  },
});
const submissions = Number(values.submissions);
const producerCounts = values.producers.split(",").map(Number);
const replicas = Number(values.replicas);

interface Row {
  redis: "cluster" | "single";
  wait: number;
  producers: number;
  perS: number;
  p50Ms: number;
  p99Ms: number;
  refused: number;
}

async function measure(redis: RedisClient, wait: number, producers: number): Promise<Row> {
  const prefix = `bench-wait-${process.pid}-${wait}-${producers}`;
  const store = new RedisEventLog(redis, {
    partitions: 16,
    prefix,
    waitReplicas: wait,
    waitTimeoutMs: Number(values["timeout-ms"]),
  });
  await store.checkLayout();
  const commands = new TaskCommands(store, { maxPayloadBytes: 1 << 20 });
  const latencies: number[] = [];
  let next = 0;
  let refused = 0;
  const started = now();
  await Promise.all(
    Array.from({ length: producers }, async () => {
      while (next < submissions) {
        const index = next++;
        const at = now();
        try {
          await commands.submit(
            { type: "bench", payload: { index }, idempotencyKey: `${prefix}-${index}` },
            { traceparent: null, tracestate: null },
          );
          latencies.push(now() - at);
        } catch {
          refused++;
        }
      }
    }),
  );
  const seconds = (now() - started) / 1000;
  await deleteKeys(redis, `${prefix}:*`);
  const { p50, p99 } = summarize(latencies);
  return {
    redis: isCluster(redis) ? "cluster" : "single",
    wait,
    producers,
    perS: Math.round(latencies.length / seconds),
    p50Ms: Number(p50.toFixed(2)),
    p99Ms: Number(p99.toFixed(2)),
    refused,
  };
}

const targets: RedisClient[] = [
  connectRedis(process.env.TASKSTREAM_REDIS_URL ?? "redis://127.0.0.1:16379", {
    cluster: /^(1|true)$/i.test(process.env.TASKSTREAM_REDIS_CLUSTER ?? ""),
    enableAutoPipelining: true,
  }),
];
if (values.single) targets.push(connectRedis(values.single, { enableAutoPipelining: true }));

const rows: Row[] = [];
for (const redis of targets)
  for (const producers of producerCounts)
    for (const wait of isCluster(redis) ? [0, replicas] : [0])
      rows.push(await measure(redis, wait, producers));
for (const redis of targets) redis.disconnect();

console.log("| redis | WAIT replicas | producers | submissions/s | p50 ms | p99 ms | refused |");
console.log("|---|---|---|---|---|---|---|");
for (const r of rows)
  console.log(
    `| ${r.redis} | ${r.wait} | ${r.producers} | ${r.perS} | ${r.p50Ms} | ${r.p99Ms} | ${r.refused} |`,
  );
console.log(JSON.stringify({ redisWait: { submissions, rows } }));
