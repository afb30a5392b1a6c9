/**
 * Projection lag, task by task: subscribes to `${prefix}:task-updates`, where the projector publishes
 * each changed row right after the transaction that wrote it commits, and for every row that reached
 * SUCCEEDED takes (arrival time − the millisecond time of its last stream id), i.e. from the
 * TaskSucceeded append to the row being committed in PostgreSQL (plus one PUBLISH hop). Only two
 * fields are cut out of each message, so the probe costs little CPU.
 * IPC: "collect" → { lag: Float64Array } (and the probe starts afresh); disconnect → exit.
 */
import { Redis } from "ioredis";

const { redisUrl, prefix } = JSON.parse(process.argv[2] ?? "{}") as { redisUrl: string; prefix: string };
const subscriber = new Redis(redisUrl, { maxRetriesPerRequest: null });
let lags: number[] = [];
let rows = 0;

function fieldAfter(message: string, marker: string): string | null {
  const at = message.indexOf(marker);
  if (at < 0) return null;
  const from = at + marker.length;
  return message.slice(from, message.indexOf('"', from));
}

subscriber.on("message", (_channel: string, message: string) => {
  rows++;
  if (fieldAfter(message, '"state":"') !== "SUCCEEDED") return;
  const streamId = fieldAfter(message, '"lastStreamId":"');
  if (!streamId) return;
  lags.push(Date.now() - Number(streamId.slice(0, streamId.indexOf("-"))));
});

await subscriber.subscribe(`${prefix}:task-updates`);
process.on("message", (message: { kind: string }) => {
  if (message.kind !== "collect") return;
  process.send?.({ kind: "lag", lag: Float64Array.from(lags), rows });
  lags = [];
  rows = 0;
});
process.on("disconnect", () => {
  subscriber.disconnect();
  process.exit(0);
});
process.send?.({ kind: "ready" });
