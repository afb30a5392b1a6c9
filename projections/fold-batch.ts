import { evolve, fold, initialState, type TaskState } from "../domain/task/index.ts";
import type { StoredEvent } from "../event-store/stream-format.ts";
import { rowFromState, stateFromRow, type TaskRow } from "./task-row.ts";

/** What a batch changes: the new rows of the tasks it touched and the events it applied, in log order. */
export interface FoldResult {
  changed: TaskRow[];
  applied: StoredEvent[];
}

/** Told of each event the fold applies, with its task's state before and after it. */
export type AppliedEventObserver = (event: StoredEvent, before: TaskState, after: TaskState) => void;

/**
 * Folds a batch of events (log order) onto the current rows of their tasks with the domain's
 * `evolve`. An event at or below its row's version was projected before and is skipped, so folding
 * the same batch twice changes nothing. `onApplied` sees every applied event (analytics, the feed).
 */
export function foldBatch(
  events: readonly StoredEvent[],
  rows: ReadonlyMap<string, TaskRow>,
  onApplied?: AppliedEventObserver,
): FoldResult {
  const states = new Map<string, { state: TaskState; streamId: string; partition: number }>();
  const applied: StoredEvent[] = [];
  for (const event of events) {
    let current = states.get(event.taskId);
    if (!current) {
      const row = rows.get(event.taskId);
      current = row
        ? { state: stateFromRow(row), streamId: row.lastStreamId, partition: row.partition }
        : { state: initialState(), streamId: "", partition: event.partition };
      states.set(event.taskId, current);
    }
    if (event.version <= current.state.version) continue;
    const before = current.state;
    current.state = evolve(before, event);
    onApplied?.(event, before, current.state);
    current.streamId = event.streamId;
    applied.push(event);
  }
  const touched = new Set(applied.map((event) => event.taskId));
  const changed = [...touched].map((id) => {
    const { state, partition, streamId } = states.get(id)!;
    return rowFromState(id, state, partition, streamId);
  });
  return { changed, applied };
}

/**
 * Tasks whose first new event in the batch does not follow their row's version (a row lost or
 * rolled back outside the projector), with that event's version. Such a task cannot be folded from
 * its row; `rowsFromHistory` rebuilds its base from the log.
 */
export function findGaps(
  events: readonly StoredEvent[],
  rows: ReadonlyMap<string, TaskRow>,
): Map<string, number> {
  const gaps = new Map<string, number>();
  const seen = new Set<string>();
  for (const event of events) {
    const known = rows.get(event.taskId)?.version ?? 0;
    if (seen.has(event.taskId) || event.version <= known) continue;
    seen.add(event.taskId);
    if (event.version !== known + 1) gaps.set(event.taskId, event.version);
  }
  return gaps;
}

/** The row each task had just before `version`, folded from its history in the log. */
export async function rowsFromHistory(
  gaps: ReadonlyMap<string, number>,
  readTask: (id: string) => Promise<StoredEvent[]>,
): Promise<TaskRow[]> {
  return Promise.all(
    [...gaps].map(async ([id, version]) => {
      const history = (await readTask(id)).filter((event) => event.version < version);
      const last = history.at(-1);
      if (!last) throw new Error(`task ${id}: the log has no events before version ${version}`);
      return rowFromState(id, fold(history), last.partition, last.streamId);
    }),
  );
}
