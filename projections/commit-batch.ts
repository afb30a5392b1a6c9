import type pg from "pg";
import type { EventStore } from "../commands/event-store/event-store.ts";
import type { StoredEvent } from "../commands/event-store/stream-format.ts";
import { advanceCheckpoints, type CheckpointMove } from "./checkpoints.ts";
import { findGaps, foldBatch, rowsFromHistory, type FoldResult } from "./fold-batch.ts";
import { insertEvents, loadTasks, upsertTasks } from "./task-table.ts";

export interface CommitTarget {
  pool: pg.Pool;
  /** For rebuilding from the log a row that does not match its task's history. */
  store: EventStore;
  checkpointKey: string;
}

/**
 * Projects one batch in ONE transaction: moves the checkpoints by compare-and-set, folds the events
 * onto their tasks' current rows, upserts the rows and records the events. Returns what changed, or
 * null — everything rolled back — when a checkpoint no longer held its expected stream id.
 */
export async function commitBatch(
  target: CommitTarget,
  events: StoredEvent[],
  moves: CheckpointMove[],
): Promise<FoldResult | null> {
  const client = await target.pool.connect();
  try {
    await client.query("begin");
    const outcome = await write(client, target, events, moves);
    await client.query(outcome ? "commit" : "rollback");
    client.release();
    return outcome;
  } catch (error) {
    const rolledBack = await client.query("rollback").then(
      () => true,
      () => false,
    );
    client.release(!rolledBack);
    throw error;
  }
}

async function write(
  client: pg.PoolClient,
  target: CommitTarget,
  events: StoredEvent[],
  moves: CheckpointMove[],
): Promise<FoldResult | null> {
  if (!(await advanceCheckpoints(client, target.checkpointKey, moves))) return null;
  const rows = await loadTasks(client, [...new Set(events.map((event) => event.taskId))]);
  const rebuilt = await rowsFromHistory(findGaps(events, rows), (id) => target.store.readTask(id));
  for (const row of rebuilt) rows.set(row.id, row);
  const outcome = foldBatch(events, rows);
  await upsertTasks(client, outcome.changed);
  await insertEvents(client, outcome.applied);
  return outcome;
}
