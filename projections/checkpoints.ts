import type { Queryable } from "./task-table.ts";
import { STREAM_START } from "../event-store/stream-ids.ts";

/**
 * A projector's checkpoint in every partition, creating the missing ones at the stream's start.
 * Returns partition → last projected stream id.
 */
export async function loadCheckpoints(
  db: Queryable,
  projector: string,
  partitions: number,
): Promise<Map<number, string>> {
  await db.query(
    `insert into projection_checkpoints (projector, partition, stream_id)
     select $1, p, $3 from generate_series(0, $2 - 1) as p
     on conflict do nothing`,
    [projector, partitions, STREAM_START],
  );
  const { rows } = await db.query<{ partition: number; stream_id: string }>(
    "select partition, stream_id from projection_checkpoints where projector = $1 and partition < $2",
    [projector, partitions],
  );
  return new Map(rows.map((row) => [row.partition, row.stream_id]));
}

/** One partition's move: from the checkpoint this projector last saw to the batch's last stream id. */
export interface CheckpointMove {
  partition: number;
  expected: string;
  next: string;
}

/**
 * Moves the checkpoints by compare-and-set, in ascending partition order (so two projectors lock
 * the rows in one order and cannot deadlock). Must run inside the transaction that writes the
 * batch's rows: the row locks taken here serialize every writer of these partitions until commit.
 * Returns false at the first checkpoint that no longer holds `expected` — another projector moved
 * it; the caller rolls back.
 */
export async function advanceCheckpoints(
  db: Queryable,
  projector: string,
  moves: CheckpointMove[],
): Promise<boolean> {
  for (const move of [...moves].sort((a, b) => a.partition - b.partition)) {
    const { rowCount } = await db.query(
      `update projection_checkpoints set stream_id = $4, updated_at = now()
       where projector = $1 and partition = $2 and stream_id = $3`,
      [projector, move.partition, move.expected, move.next],
    );
    if (rowCount !== 1) return false;
  }
  return true;
}
