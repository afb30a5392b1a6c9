import type pg from "pg";
import type { TaskEvent } from "../../domain/task/index.ts";
import type { TasksProjector } from "../tasks-projector.ts";
import type { TaskRow } from "../task-row.ts";
import { loadTasks } from "../task-table.ts";
import type { ReadModelFixture } from "./read-model-fixture.ts";

/** Events appended to one task's history. */
export type History = [taskId: string, events: TaskEvent[]];

/** What a `then` clause can look at. */
export interface ReadModelView {
  row(taskId: string): Promise<TaskRow | undefined>;
  events(taskId: string): Promise<{ version: number; type: string; stream_id: string }[]>;
}

/** Reads the read model of a fixture. */
export function readModelView(pool: pg.Pool): ReadModelView {
  return {
    row: async (taskId) => (await loadTasks(pool, [taskId])).get(taskId),
    events: async (taskId) =>
      (
        await pool.query<{ version: number; type: string; stream_id: string }>(
          "select version, type, stream_id from task_events where task_id = $1 order by version",
          [taskId],
        )
      ).rows,
  };
}

/**
 * Projection specs in Emmett's spirit: given histories already in the log and projected, when more
 * events are appended and projected, then the read model looks like this.
 */
export function projectionSpec(fixture: ReadModelFixture, projector: TasksProjector) {
  const project = async (histories: History[]) => {
    for (const [taskId, events] of histories) await fixture.store.append(taskId, -1, events);
    await projector.catchUp();
  };
  return {
    given: (...given: History[]) => ({
      when: (...when: History[]) => ({
        then: async (assert: (view: ReadModelView) => Promise<void> | void) => {
          await project(given);
          await project(when);
          await assert(readModelView(fixture.pool));
        },
      }),
    }),
  };
}
