import { ROOT_CONTEXT, SpanKind, context, trace, type Context, type Span } from "@opentelemetry/api";
import type { TaskState } from "../domain/task/index.ts";
import { storedTraceContext, tracer, tracingOn } from "../observability/tracing.ts";

/**
 * The dispatcher's spans of a task's attempts (docs/tracing.md). `taskstream.dispatch` is a child of
 * the trace context stored with the task at submission; the Assignment carries the dispatch span's
 * context to the worker, whose handler span is its child; the result the worker reports is recorded
 * under `taskstream.record_result`, a child of the attempt's dispatch span (or, after a takeover,
 * of the stored context). With OpenTelemetry off every function here returns at its first check.
 */

/** The trace context stored with the task at submission (null when it has none). */
export function taskTraceContext(state: TaskState | undefined): Context | null {
  const spec = state?.spec;
  return spec ? storedTraceContext(spec.traceparent, spec.tracestate) : null;
}

/** Starts the span of handing the task's next attempt to a worker; undefined when tracing is off. */
export function startDispatchSpan(
  taskId: string,
  state: TaskState | undefined,
  workerId: string,
): Span | undefined {
  if (!tracingOn() || !state?.spec) return undefined;
  const attributes = {
    "taskstream.task.id": taskId,
    "taskstream.task.type": state.spec.type,
    "taskstream.task.priority": state.spec.priority,
    "taskstream.worker.id": workerId,
  };
  // A task stored without a trace (a schedule's firing) starts one here.
  const parent = taskTraceContext(state) ?? ROOT_CONTEXT;
  return tracer.startSpan("taskstream.dispatch", { kind: SpanKind.PRODUCER, attributes }, parent);
}

/**
 * Starts a span about an attempt's end — a worker's report, or a failure the dispatcher records
 * itself (timeout, lost worker) — under the attempt's trace; undefined when tracing is off or the
 * attempt has no trace.
 */
export function startAttemptEndSpan(
  name: "taskstream.record_result" | "taskstream.fail_attempt",
  parentOf: () => Context | null,
  attributes: Record<string, string | number>,
): Span | undefined {
  if (!tracingOn()) return undefined;
  const parent = parentOf();
  return parent ? tracer.startSpan(name, { kind: SpanKind.INTERNAL, attributes }, parent) : undefined;
}

/** Runs `work` with `span` active (its appends become the span's children); without a span, as is. */
export function underSpan<T>(span: Span | undefined, work: () => Promise<T>): Promise<T> {
  return span ? context.with(trace.setSpan(ROOT_CONTEXT, span), work) : work();
}
