/**
 * Projection lag, task by task: subscribes to `${prefix}:task-updates`, where the projector publishes
 * each batch's changed rows (a JSON array) right after the transaction that wrote them commits, and for every row that reached
 * SUCCEEDED takes (arrival time − the millisecond time of its last stream id), i.e. from the
 * TaskSucceeded append to the row being committed in PostgreSQL (plus one PUBLISH hop). Only two
 * fields are cut out of each row, so the probe costs little CPU.
 * IPC: "collect" → { lag: Float64Array } (and the probe starts afresh); disconnect → exit.
 */
import { Redis } from "ioredis";

const { redisUrl, prefix } = JSON.parse(process.argv[2] ?? "{}") as { redisUrl: string; prefix: string };
const subscriber = new Redis(redisUrl, { maxRetriesPerRequest: null });
let lags: number[] = [];
let rows = 0;

const STATE = '"state":"';
const STREAM_ID = '"lastStreamId":"';

// A message is the JSON array of one batch's rows; in each row `state` comes before `lastStreamId`.
subscriber.on("message", (_channel: string, message: string) => {
  const now = Date.now();
  for (let at = message.indexOf(STATE); at >= 0; at = message.indexOf(STATE, at + 1)) {
    rows++;
    const state = message.slice(at + STATE.length, message.indexOf('"', at + STATE.length));
    if (state !== "SUCCEEDED") continue;
    const idAt = message.indexOf(STREAM_ID, at);
    if (idAt < 0) continue;
    const streamId = message.slice(idAt + STREAM_ID.length, message.indexOf('"', idAt + STREAM_ID.length));
    lags.push(now - Number(streamId.slice(0, streamId.indexOf("-"))));
  }
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
