import type { TaskState } from "../domain/task/index.ts";
import type { Assignment } from "../proto/gen/taskstream/v1/workers.ts";

/**
 * The Assignment pushed to a worker for the task's current attempt. `trace`: the W3C context the
 * handler continues — the dispatch span's when the dispatcher traces, else the one stored with the task.
 */
export function assignmentMessage(
  taskId: string,
  state: TaskState,
  trace?: { traceparent: string; tracestate: string },
): Assignment {
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
    traceparent: trace?.traceparent ?? spec.traceparent ?? "",
    tracestate: trace ? trace.tracestate : (spec.tracestate ?? ""),
    lastDetailsJson: state.lastDetails === null ? "" : JSON.stringify(state.lastDetails),
    // The attempts this task may run in all (a revival raises it above the policy's).
    maxAttempts: state.attemptBudget,
    heartbeatTimeoutMs: spec.timeouts.heartbeatMs ?? 0,
  };
}
