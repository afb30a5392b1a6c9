import type pg from "pg";
import { fold } from "../../domain/task/index.ts";
import type { ArchiveStore } from "../../event-store/archive/archive-store.ts";
import type { EventLog } from "../../event-store/event-log.ts";
import { TaskHistory } from "../../event-store/history.ts";
import { compareStreamIds, STREAM_START } from "../../event-store/stream-ids.ts";
import { verifyStateCounts, type CountMismatch } from "../state-counts.ts";
import { loadTasks } from "../task-table.ts";
import { rowMismatches, verifyReadModel, type Mismatch } from "../verify.ts";

export interface SwappedVerifyReport {
  checked: number;
  /** Rows that differ from the fold of their history. */
  mismatches: Mismatch[];
  /** Tasks the live projector had not folded yet: each row is exact up to its version, and covers every event up to the checkpoint. */
  behind: number;
  /** Counts by state (`task_state_counts`) that differ from the rows they count. */
  counts: CountMismatch[];
}

/**
 * `taskstream verify` over the swapped-in tables while the live projector goes on: the rows, and the
 * counts by state against the rows (one snapshot, so a projector committing meanwhile cannot make
 * them differ). verify folds each
 * task's whole history; a task that changed after the projector's checkpoint then differs without
 * being wrong. Each task verify flags is looked at again, in this order: the live checkpoint of its
 * partition, its row, its history (each read after the one before, so the history holds at least
 * what the row folded). It is only "behind" — not a mismatch — when its row is exactly the fold of
 * its first `row.version` events and no event at or before the checkpoint lies beyond them (no row
 * at all: no event at or before the checkpoint).
 */
export async function verifySwapped(options: {
  store: EventLog;
  pool: pg.Pool;
  archive: ArchiveStore | null;
  checkpointKey: string;
  onProgress?: (checked: number, total: number) => void;
}): Promise<SwappedVerifyReport> {
  const { store, pool, archive, checkpointKey, onProgress } = options;
  let total = 0;
  const { rows: counted } = await pool.query<{ n: number }>("select count(*)::int as n from tasks");
  total = counted[0]?.n ?? 0;
  const report = await verifyReadModel({
    store,
    pool,
    archive,
    onProgress: (checked) => onProgress?.(checked, total),
  });
  const history = new TaskHistory(store, archive);
  const mismatches: Mismatch[] = [];
  let behind = 0;
  for (const taskId of new Set(report.mismatches.map((m) => m.taskId))) {
    const checkpoint = await liveCheckpoint(pool, checkpointKey, store.partitionOf(taskId));
    const row = (await loadTasks(pool, [taskId])).get(taskId);
    const { events } = await history.read(taskId);
    const upTo = row?.version ?? 0;
    const unfoldedBeforeCheckpoint = events.some(
      (event) => event.version > upTo && compareStreamIds(event.streamId, checkpoint) <= 0,
    );
    const prefix = events.filter((event) => event.version <= upTo);
    const exactSoFar = row === undefined || rowMismatches(taskId, fold(prefix), row).length === 0;
    if (exactSoFar && !unfoldedBeforeCheckpoint) {
      if (upTo < events.length) behind++;
      continue;
    }
    mismatches.push(...rowMismatches(taskId, fold(events), row));
  }
  return { checked: report.checked, mismatches, behind, counts: await verifyStateCounts(pool) };
}

async function liveCheckpoint(pool: pg.Pool, key: string, partition: number): Promise<string> {
  const { rows } = await pool.query<{ stream_id: string }>(
    "select stream_id from projection_checkpoints where projector = $1 and partition = $2",
    [key, partition],
  );
  return rows[0]?.stream_id ?? STREAM_START;
}
