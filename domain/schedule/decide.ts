import { IllegalStateError, NotFoundError, ValidationError, type FieldError } from "../task/errors.ts";
import { planCatchUp } from "./catch-up.ts";
import type { ScheduleCommand } from "./commands.ts";
import { cronFieldErrors, nextFireTime } from "./cron.ts";
import { CATCH_UP_POLICIES, type ScheduleDefinition, type ScheduleEvent } from "./events.ts";
import type { ScheduleState } from "./state.ts";

/** Template fields each firing sets itself; a template that names them is refused. */
const PER_FIRING_FIELDS = ["idempotencyKey", "runAt"] as const;

/**
 * What is wrong with a schedule's definition at `now`, field by field (`cron`, `timeZone`,
 * `catchUp`, `task.type`, `task.idempotencyKey`, `task.runAt`); empty when it is usable. The rest of
 * the task template is checked by the shell, against the same rules as a submission.
 */
export function definitionErrors(definition: ScheduleDefinition, now: number): FieldError[] {
  const errors = cronFieldErrors(definition.cron, definition.timeZone, now);
  if (!CATCH_UP_POLICIES.includes(definition.catchUp))
    errors.push({ field: "catchUp", reason: `must be one of ${CATCH_UP_POLICIES.join(", ")}` });
  const task = definition.task as unknown;
  if (typeof task !== "object" || task === null || Array.isArray(task)) {
    errors.push({ field: "task", reason: "must be a task submission object" });
    return errors;
  }
  if (typeof (task as { type?: unknown }).type !== "string")
    errors.push({ field: "task.type", reason: "is required" });
  for (const field of PER_FIRING_FIELDS) {
    if (field in task) errors.push({ field: `task.${field}`, reason: "is set by each firing; leave it out" });
  }
  return errors;
}

/**
 * The schedule decider: which events a command yields against the schedule's current state. Pure.
 * Repeating a command that changes nothing (pause a paused schedule) returns []; an illegal one
 * (resume a deleted schedule) throws IllegalStateError; any command but creation on an unknown
 * schedule throws NotFoundError. Firings are recorded strictly in fire-time order, each one the next
 * fire time after the cursor, so none is passed over without a ScheduleFiringsSkipped saying so.
 */
export function decide(command: ScheduleCommand, state: ScheduleState): ScheduleEvent[] {
  if (command.type !== "CreateSchedule" && state.status === "NEW") throw new NotFoundError("schedule");
  switch (command.type) {
    case "CreateSchedule": {
      const { now, ...definition } = command.data;
      if (state.status !== "NEW") throw new IllegalStateError("the schedule exists already");
      const errors = definitionErrors(definition, now);
      if (errors.length > 0) throw new ValidationError(errors);
      return [{ type: "ScheduleCreated", data: { ...definition, createdAt: now } }];
    }

    case "PauseSchedule":
      if (state.status === "DELETED") throw new IllegalStateError("cannot pause a deleted schedule");
      if (state.status === "PAUSED") return [];
      return [{ type: "SchedulePaused", data: { at: command.data.now } }];

    case "ResumeSchedule":
      if (state.status === "DELETED") throw new IllegalStateError("cannot resume a deleted schedule");
      if (state.status === "ACTIVE") return [];
      return [{ type: "ScheduleResumed", data: { at: command.data.now } }];

    case "DeleteSchedule":
      if (state.status === "DELETED") return [];
      return [{ type: "ScheduleDeleted", data: { at: command.data.now } }];

    case "ApplyCatchUp": {
      const { skip } = planCatchUp(state, command.data.now);
      if (!skip) return [];
      return [
        { type: "ScheduleFiringsSkipped", data: { ...skip, policy: state.catchUp, at: command.data.now } },
      ];
    }

    case "RecordFiring": {
      const { fireAt, taskId, error, now } = command.data;
      // At or before the cursor: recorded (or skipped) already, e.g. by a leader that was deposed.
      if (fireAt <= state.cursor) return [];
      if (fireAt > now) throw new IllegalStateError("cannot record a firing before its time");
      const expected = nextFireTime(state.cron, state.timeZone, state.cursor);
      if (fireAt !== expected) {
        const due = expected === null ? "none" : new Date(expected).toISOString();
        throw new IllegalStateError(`firing out of order: the next fire time is ${due}`);
      }
      // Recorded even if a pause or delete landed while the task was being submitted: it was due
      // before that, and the task exists.
      return [{ type: "ScheduleFired", data: { fireAt, taskId, error, at: now } }];
    }

    default: {
      const unknown: never = command;
      throw new IllegalStateError(`unknown command ${JSON.stringify(unknown)}`);
    }
  }
}
