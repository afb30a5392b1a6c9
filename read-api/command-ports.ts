import type { ScheduleView } from "../domain/schedule/view.ts";
import type { TaskView } from "../domain/task/view.ts";

/**
 * What the read API's mutations ask of the command side. The command layer
 * (`commands/task-commands.ts`, `commands/schedules/schedule-commands.ts`) is handed in by the
 * process that runs both roles; the read API never reaches into the command side itself.
 */
export interface TaskMutations {
  cancel(id: string, reason: string): Promise<TaskView>;
  retry(id: string, maxAttempts: number | null, reason: string): Promise<TaskView>;
}

export interface ScheduleMutations {
  create(input: unknown): Promise<ScheduleView>;
  get(id: string): Promise<ScheduleView>;
  pause(id: string): Promise<ScheduleView>;
  resume(id: string): Promise<ScheduleView>;
  delete(id: string): Promise<ScheduleView>;
}
