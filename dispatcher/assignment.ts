import type { TaskState } from "../domain/task/index.ts";
import type { Assignment } from "../proto/gen/taskstream/v1/workers.ts";

/** The Assignment pushed to a worker for the task's current attempt. */
export function assignmentMessage(taskId: string, state: TaskState): Assignment {
  const spec = state.spec!;
  return {
    taskId,
    attempt: state.attempt,
    type: spec.type,
    payloadJson: JSON.stringify(spec.payload),
    idempotencyKey: spec.idempotencyKey ?? "",
    priority: spec.priority,
    deadlineUnixMs: state.deadlineAt ?? 0,
    metadata: spec.metadata,
    traceparent: spec.traceparent ?? "",
    tracestate: spec.tracestate ?? "",
    lastDetailsJson: state.lastDetails === null ? "" : JSON.stringify(state.lastDetails),
    // The attempts this task may run in all (a revival raises it above the policy's).
    maxAttempts: state.attemptBudget,
    heartbeatTimeoutMs: spec.timeouts.heartbeatMs ?? 0,
  };
}
