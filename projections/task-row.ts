import {
  DEFAULT_RETRY,
  DEFAULT_TIMEOUTS,
  type Json,
  type TaskError,
  type TaskState,
  type TaskStateName,
} from "../domain/task/index.ts";

/** A task state the read model can hold: every status but NEW (a row exists from TaskSubmitted on). */
export type RowState = Exclude<TaskStateName, "NEW">;

/**
 * One row of the `tasks` read model, camelCased, times in Unix milliseconds. The same shape is
 * published on `${prefix}:task-updates` (in arrays, one per committed batch) and served by GraphQL.
 */
export interface TaskRow {
  id: string;
  /** The tenant (domain/task/namespace.ts). */
  namespace: string;
  type: string;
  state: RowState;
  priority: number;
  attempt: number;
  maxAttempts: number;
  payload: Json;
  result: Json;
  lastError: TaskError | null;
  idempotencyKey: string | null;
  requires: Record<string, string>;
  metadata: Record<string, string>;
  workerId: string | null;
  cancelRequested: boolean;
  availableAt: number | null;
  createdAt: number;
  updatedAt: number;
  version: number;
  partition: number;
  /** Stream id of the last event folded into this row. */
  lastStreamId: string;
}

/**
 * The row for a task state. Throws when the history had no TaskSubmitted (no spec): such a log is
 * corrupt, and the projector stops rather than invent a row.
 */
export function rowFromState(id: string, state: TaskState, partition: number, lastStreamId: string): TaskRow {
  const { spec, createdAt, updatedAt } = state;
  if (state.state === "NEW" || spec === null || createdAt === null) {
    throw new Error(`task ${id}: history does not start with TaskSubmitted`);
  }
  return {
    id,
    namespace: spec.namespace,
    type: spec.type,
    state: state.state,
    priority: spec.priority,
    attempt: state.attempt,
    maxAttempts: state.attemptBudget,
    payload: spec.payload,
    result: state.result,
    lastError: state.lastError,
    idempotencyKey: spec.idempotencyKey,
    requires: spec.requires,
    metadata: spec.metadata,
    workerId: state.workerId,
    cancelRequested: state.cancelRequested,
    availableAt: state.availableAt,
    createdAt,
    updatedAt: updatedAt ?? createdAt,
    version: state.version,
    partition,
    lastStreamId,
  };
}

/**
 * The task state a row stands for, to fold further events onto. Exact on every column; what the
 * row does not keep (retry backoffs, timeouts, deadlines, progress details) takes defaults, which
 * `evolve` never reads and `rowFromState` never writes.
 */
export function stateFromRow(row: TaskRow): TaskState {
  return {
    state: row.state,
    spec: {
      namespace: row.namespace,
      type: row.type,
      payload: row.payload,
      priority: row.priority,
      requires: row.requires,
      idempotencyKey: row.idempotencyKey,
      runAt: null,
      retry: { ...DEFAULT_RETRY, maxAttempts: row.maxAttempts },
      timeouts: DEFAULT_TIMEOUTS,
      metadata: row.metadata,
      concurrency: null,
      traceparent: null,
      tracestate: null,
    },
    attempt: row.attempt,
    workerId: row.workerId,
    availableAt: row.availableAt,
    deadlineAt: null,
    cancelRequested: row.cancelRequested,
    result: row.result,
    lastError: row.lastError,
    lastDetails: null,
    progressCount: 0,
    lastProgressAt: null,
    deadLetterReason: null,
    attemptBudget: row.maxAttempts,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
    version: row.version,
  };
}

/** The Redis channel on which the projector publishes each batch's changed TaskRows (a JSON array). */
export function taskUpdatesChannel(prefix: string): string {
  return `${prefix}:task-updates`;
}
