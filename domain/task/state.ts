import type { RecordedEvent, TaskEvent } from "./events.ts";
import type { Json, TaskError, TaskSpec } from "./spec.ts";

/** Where a task is in its lifecycle (docs/task-lifecycle.md); the API calls it the task's `state`. */
export type TaskStateName =
  "NEW" | "QUEUED" | "ASSIGNED" | "RUNNING" | "SUCCEEDED" | "DEAD_LETTERED" | "CANCELLED";
export const TERMINAL_STATES: ReadonlySet<TaskStateName> = new Set([
  "SUCCEEDED",
  "DEAD_LETTERED",
  "CANCELLED",
]);

/** A task's current state: the left fold of its events with `evolve`. */
export interface TaskState {
  state: TaskStateName;
  spec: TaskSpec | null;
  /** The latest attempt's number; 0 before the first assignment. */
  attempt: number;
  workerId: string | null;
  /** When a QUEUED task may be dispatched (runAt, or the end of a retry backoff). */
  availableAt: number | null;
  /** When the current attempt must have finished. */
  deadlineAt: number | null;
  cancelRequested: boolean;
  result: Json;
  lastError: TaskError | null;
  lastDetails: Json;
  /** Progress events recorded for the current attempt, and when the last was (decide bounds them). */
  progressCount: number;
  lastProgressAt: number | null;
  deadLetterReason: string | null;
  /** The attempt number up to which the task may run: its policy's maxAttempts, raised by each revival. */
  attemptBudget: number;
  createdAt: number | null;
  updatedAt: number | null;
  version: number;
}

export function initialState(): TaskState {
  return {
    state: "NEW",
    spec: null,
    attempt: 0,
    workerId: null,
    availableAt: null,
    deadlineAt: null,
    cancelRequested: false,
    result: null,
    lastError: null,
    lastDetails: null,
    progressCount: 0,
    lastProgressAt: null,
    deadLetterReason: null,
    attemptBudget: 0,
    createdAt: null,
    updatedAt: null,
    version: 0,
  };
}

export function isTerminal(state: TaskState): boolean {
  return TERMINAL_STATES.has(state.state);
}

/** Whether an attempt of the task is out: assigned to a worker, or running there. */
export function hasAttemptOut(state: TaskState): boolean {
  return state.state === "ASSIGNED" || state.state === "RUNNING";
}

/** Applies one event. Pure; never throws: the log is the truth, whatever it holds. */
export function evolve(state: TaskState, event: TaskEvent): TaskState {
  const next: TaskState = { ...state, version: state.version + 1 };
  switch (event.type) {
    case "TaskSubmitted": {
      const { spec, submittedAt } = event.data;
      return {
        ...next,
        state: "QUEUED",
        spec,
        availableAt: spec.runAt ?? submittedAt,
        attemptBudget: spec.retry.maxAttempts,
        createdAt: submittedAt,
        updatedAt: submittedAt,
      };
    }
    case "TaskAssigned": {
      const { attempt, workerId, assignedAt, deadlineAt } = event.data;
      return {
        ...next,
        state: "ASSIGNED",
        attempt,
        workerId,
        deadlineAt,
        availableAt: null,
        progressCount: 0,
        lastProgressAt: null,
        updatedAt: assignedAt,
      };
    }
    case "TaskStarted":
      return { ...next, state: "RUNNING", updatedAt: event.data.startedAt };
    case "TaskProgressRecorded":
      return {
        ...next,
        lastDetails: event.data.details,
        progressCount: state.progressCount + 1,
        lastProgressAt: event.data.at,
        updatedAt: event.data.at,
      };
    case "TaskSucceeded":
      return {
        ...next,
        state: "SUCCEEDED",
        result: event.data.result,
        deadlineAt: null,
        updatedAt: event.data.completedAt,
      };
    case "TaskAttemptFailed": {
      const { error, failedAt, retryAt, unstarted } = event.data;
      const waiting =
        retryAt === null ? {} : { state: "QUEUED" as const, availableAt: retryAt, workerId: null };
      // An attempt its worker never received does not use up the budget.
      const attemptBudget = unstarted ? next.attemptBudget + 1 : next.attemptBudget;
      return { ...next, ...waiting, attemptBudget, lastError: error, deadlineAt: null, updatedAt: failedAt };
    }
    case "TaskDeadLettered":
      return {
        ...next,
        state: "DEAD_LETTERED",
        deadLetterReason: event.data.reason,
        availableAt: null,
        deadlineAt: null,
        updatedAt: event.data.at,
      };
    case "TaskCancelRequested":
      return { ...next, cancelRequested: true, updatedAt: event.data.at };
    case "TaskCancelled":
      return { ...next, state: "CANCELLED", availableAt: null, deadlineAt: null, updatedAt: event.data.at };
    case "TaskRevived":
      return {
        ...next,
        state: "QUEUED",
        availableAt: event.data.at,
        attemptBudget: event.data.attemptBudget,
        deadLetterReason: null,
        workerId: null,
        cancelRequested: false,
        updatedAt: event.data.at,
      };
    case "TaskResultRejected":
      return next;
    default: {
      const unknown: never = event;
      return unknown;
    }
  }
}

/** Folds a task's whole history. */
export function fold(events: readonly (TaskEvent | RecordedEvent)[]): TaskState {
  return events.reduce(evolve, initialState());
}
