import type { ScheduleView } from "../domain/schedule/view.ts";
import type { TaskView } from "../domain/task/view.ts";
import type { Principal } from "../auth/principal.ts";

/**
 * What the read API's mutations ask of the command side. The command layer
 * (`commands/task-commands.ts`, `commands/schedules/schedule-commands.ts`) is handed in by the
 * process that runs both roles; the read API never reaches into the command side itself. Each call
 * carries the caller, whose scopes and namespaces the command side checks.
 */
export interface TaskMutations {
  cancel(id: string, reason: string, principal: Principal): Promise<TaskView>;
  retry(id: string, maxAttempts: number | null, reason: string, principal: Principal): Promise<TaskView>;
}

export interface ScheduleMutations {
  create(input: unknown, principal: Principal): Promise<ScheduleView>;
  get(id: string, principal: Principal): Promise<ScheduleView>;
  pause(id: string, principal: Principal): Promise<ScheduleView>;
  resume(id: string, principal: Principal): Promise<ScheduleView>;
  delete(id: string, principal: Principal): Promise<ScheduleView>;
}
