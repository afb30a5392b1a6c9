import type pg from "pg";
import type { EventLog } from "../event-store/event-log.ts";
import { STREAM_START, streamIdTime } from "../event-store/stream-ids.ts";

/**
 * How long the oldest event that the read model has not folded yet has been in the log, in seconds
 * (0 when every partition is caught up). It reads the shared checkpoints, so every projector
 * instance reports the same figure; unlike the lag of committed batches it keeps growing while the
 * projector is stalled, which is what an alert needs.
 */
export async function projectionBacklogAgeSeconds(
  store: EventLog,
  pool: pg.Pool,
  checkpointKey: string,
  now = Date.now(),
): Promise<number> {
  const { rows } = await pool.query<{ partition: number; stream_id: string }>(
    "select partition, stream_id from projection_checkpoints where projector = $1",
    [checkpointKey],
  );
  const positions = new Map(rows.map((row) => [row.partition, row.stream_id]));
  const partitions = Array.from({ length: store.partitions }, (_, p) => p);
  const next = await Promise.all(
    partitions.map((p) => store.readPartition(p, positions.get(p) ?? STREAM_START, 1)),
  );
  let oldest = now;
  for (const [event] of next) if (event) oldest = Math.min(oldest, streamIdTime(event.streamId));
  return Math.max(0, now - oldest) / 1000;
}
