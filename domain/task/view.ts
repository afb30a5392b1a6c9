import type { Json, TaskError } from "./spec.ts";
import type { TaskState } from "./state.ts";

/** A task as the command API shows it (REST body, and the fields of the gRPC Task message). */
export interface TaskView {
  id: string;
  namespace: string;
  type: string;
  state: string;
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
  createdAt: string;
  updatedAt: string;
  availableAt: string | null;
  version: number;
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

export function taskView(id: string, state: TaskState): TaskView {
  const spec = state.spec!;
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
    createdAt: iso(state.createdAt)!,
    updatedAt: iso(state.updatedAt)!,
    availableAt: state.state === "QUEUED" ? iso(state.availableAt) : null,
    version: state.version,
  };
}
