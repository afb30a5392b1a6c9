import type pg from "pg";
import type { EventLog } from "../event-store/event-log.ts";
import type { StoredEvent } from "../event-store/stream-format.ts";
import { advanceCheckpoints, type CheckpointMove } from "./checkpoints.ts";
import { findGaps, foldBatch, rowsFromHistory, type FoldResult } from "./fold-batch.ts";
import type { RowCache } from "./row-cache.ts";
import type { TaskRow } from "./task-row.ts";
import { SideModels } from "./side-models.ts";
import type { FeedEntry } from "./feed/feed-table.ts";
import {
  insertEvents,
  loadTasks,
  readModelGeneration,
  recordedVersions,
  updateTasks,
  upsertTasks,
  type Queryable,
} from "./task-table.ts";

export interface CommitTarget {
  pool: pg.Pool;
  /** For rebuilding from the log a row that does not match its task's history. */
  store: EventLog;
  checkpointKey: string;
  /** Rows this instance committed; read instead of PostgreSQL, filled after each commit. */
  cache: RowCache;
}

/** What a committed batch changed: its rows and events, and its task feed entries. */
export type CommittedBatch = FoldResult & { feed: FeedEntry[] };

/** Another compare-and-set a batch must pass to commit (a rebuild's archive cursor); false rolls back. */
export type BatchClaim = (db: Queryable) => Promise<boolean>;

/**
 * Projects one batch in ONE transaction: moves the checkpoints by compare-and-set, folds the events
 * onto their tasks' current rows, writes the rows, records the events and updates the side models
 * (analytics, feed, counts: projections/side-models.ts). Returns what changed, or null —
 * everything rolled back — when a checkpoint (or the `claim`) no longer held.
 *
 * The transaction commits asynchronously (synchronous_commit off): the read model is a fold of the
 * log and the checkpoint commits with the rows, so a PostgreSQL crash loses at most the last batches
 * together with their checkpoint moves, and they are projected again (docs/projection-checkpoints.md).
 */
export async function commitBatch(
  target: CommitTarget,
  events: StoredEvent[],
  moves: CheckpointMove[],
  claim?: BatchClaim,
): Promise<CommittedBatch | null> {
  const client = await target.pool.connect();
  try {
    await client.query("begin");
    await client.query("set local synchronous_commit = off");
    const outcome = claim && !(await claim(client)) ? null : await writeBatch(client, target, events, moves);
    await client.query(outcome ? "commit" : "rollback");
    client.release();
    if (outcome) target.cache.remember(outcome.changed);
    else target.cache.clear();
    return outcome;
  } catch (error) {
    target.cache.clear();
    const rolledBack = await client.query("rollback").then(
      () => true,
      () => false,
    );
    client.release(!rolledBack);
    throw error;
  }
}

/**
 * The body of `commitBatch`, inside a transaction the caller owns (the rebuild's swap folds its last
 * events this way). The cache is consulted but not filled: the caller remembers the rows after COMMIT.
 */
export async function writeBatch(
  client: pg.PoolClient,
  target: CommitTarget,
  events: StoredEvent[],
  moves: CheckpointMove[],
): Promise<CommittedBatch | null> {
  if (!(await advanceCheckpoints(client, target.checkpointKey, moves))) return null;
  // Read after the checkpoint locks are held, in a statement of its own (a fresh snapshot): a swap
  // that replaced the tables (docs/projection-rebuild.md) has committed by now, or has not begun.
  target.cache.keepIfGeneration(await readModelGeneration(client, target.checkpointKey));
  const rows = await currentRows(client, target.cache, events);
  const rebuilt = await rowsFromHistory(findGaps(events, rows), (id) => target.store.readTask(id));
  for (const row of rebuilt) rows.set(row.id, row);
  const side = new SideModels();
  const outcome = foldBatch(events, rows, side.observe);
  const existing: TaskRow[] = [];
  const fresh: TaskRow[] = [];
  for (const row of outcome.changed) (rows.has(row.id) ? existing : fresh).push(row);
  // A row believed to exist but gone (the read model emptied behind the projector) is written whole.
  const updated = await updateTasks(client, existing);
  await upsertTasks(client, updated === existing.length ? fresh : outcome.changed);
  const unknown = [...fresh, ...rebuilt].map((row) => row.id);
  await insertEvents(client, await unrecorded(client, outcome.applied, unknown));
  await side.write(client, rows, outcome.changed);
  return { ...outcome, feed: side.feed };
}

/**
 * The events to add to the history. A task folded from its row records exactly the events above
 * that row's version, which its history cannot hold yet (row and history commit together). For a
 * task without a row (new, or its row lost) the history is asked how far it already goes.
 */
async function unrecorded(
  client: pg.PoolClient,
  applied: StoredEvent[],
  unknown: string[],
): Promise<StoredEvent[]> {
  if (unknown.length === 0) return applied;
  const recorded = await recordedVersions(client, unknown);
  return applied.filter((event) => event.version > (recorded.get(event.taskId) ?? 0));
}

/** The rows of the batch's tasks: from the cache, the rest read in one query. */
async function currentRows(
  client: pg.PoolClient,
  cache: RowCache,
  events: StoredEvent[],
): Promise<Map<string, TaskRow>> {
  const rows = new Map<string, TaskRow>();
  const missing = new Set<string>();
  for (const { taskId } of events) {
    if (rows.has(taskId) || missing.has(taskId)) continue;
    const cached = cache.get(taskId);
    if (cached) rows.set(taskId, cached);
    else missing.add(taskId);
  }
  if (missing.size > 0) for (const [id, row] of await loadTasks(client, [...missing])) rows.set(id, row);
  return rows;
}
