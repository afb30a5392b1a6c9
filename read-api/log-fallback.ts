import { fold } from "../domain/task/index.ts";
import type { EventLog } from "../event-store/event-log.ts";
import { rowFromState, type TaskRow } from "../projections/task-row.ts";

/**
 * A `getTaskFromLog` for readApiPlugin: the task folded from its events in the log, for reads that
 * must see a task the projector has not reached yet (null when the log does not know it).
 */
export function taskFromLog(store: EventLog): (id: string) => Promise<TaskRow | null> {
  return async (id) => {
    const events = await store.readTask(id);
    const last = events.at(-1);
    return last ? rowFromState(id, fold(events), last.partition, last.streamId) : null;
  };
}
