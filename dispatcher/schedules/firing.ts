import type { TaskTemplate } from "../../domain/schedule/index.ts";
import { PayloadTooLargeError, ValidationError, type TaskSpec } from "../../domain/task/index.ts";
import type { TraceContext } from "../../observability/trace-context.ts";
import type { Principal } from "../../auth/principal.ts";

/**
 * How firings reach the log: the command side's submission path (validation, admission,
 * idempotency), as a producer's tasks do. The command layer (`commands/task-commands.ts`) is one;
 * the dispatcher is given it rather than reaching into the command side.
 */
export interface TaskSubmitter {
  /** Brings cached queue settings up to date before validating. */
  refreshSettings(): Promise<void>;
  /** Checks a submission and fills in its defaults; throws ValidationError or PayloadTooLargeError. */
  validate(
    input: unknown,
    trace: TraceContext,
    principal: Principal,
    pathPrefix: string,
    now: number,
  ): TaskSpec;
  /** Submits validated tasks if their queues admit them. */
  submitValidated(
    specs: TaskSpec[],
    principal: Principal,
    now: number,
  ): Promise<{ id: string; deduplicated: boolean }[]>;
}

const NO_TRACE = { traceparent: null, tracestate: null };

/**
 * The idempotency key of one firing: the schedule and its fire time. Whichever leader submits the
 * firing, and however often, inside the dedup window it names one task.
 */
export function firingKey(scheduleId: string, fireAt: number): string {
  return `schedule:${scheduleId}:${new Date(fireAt).toISOString()}`;
}

/** What became of a firing's submission: the task (the first of its key), or why there is none. */
export interface FiringOutcome {
  taskId: string | null;
  error: string | null;
}

/**
 * Submits one firing's task: the template with the firing's idempotency key and, in its metadata,
 * `schedule.id` and `schedule.fireAt` for the worker. A template that no longer passes the
 * submission rules (the payload limit was lowered) is an outcome, recorded once, not an error
 * retried forever; anything else (backpressure, Redis) throws and the firing is tried again.
 */
export async function submitFiring(
  tasks: TaskSubmitter,
  scheduleId: string,
  template: TaskTemplate,
  fireAt: number,
  now: number,
  principal: Principal,
): Promise<FiringOutcome> {
  const fireAtIso = new Date(fireAt).toISOString();
  const metadata = (template.metadata ?? {}) as Record<string, string>;
  const submission = {
    ...template,
    idempotencyKey: firingKey(scheduleId, fireAt),
    metadata: { ...metadata, "schedule.id": scheduleId, "schedule.fireAt": fireAtIso },
  };
  let spec;
  try {
    spec = tasks.validate(submission, NO_TRACE, principal, "task.", now);
  } catch (error) {
    if (error instanceof ValidationError || error instanceof PayloadTooLargeError)
      return { taskId: null, error: error.message };
    throw error;
  }
  const [result] = await tasks.submitValidated([spec], principal, now);
  return { taskId: result!.id, error: null };
}
