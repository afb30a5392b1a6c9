import { SpanKind, context, propagation, trace, type Span } from "@opentelemetry/api";
import { inSpan, traceHeadersOf, tracer, tracingOn } from "./tracing.ts";

/** The W3C trace context a submission carries to its task (null parts when the caller sent none). */
export interface TraceContext {
  traceparent: string | null;
  tracestate: string | null;
}

const TRACEPARENT = /^[\da-f]{2}-[\da-f]{32}-[\da-f]{16}-[\da-f]{2}$/;

/**
 * Runs a submission inside a span `taskstream.submit` and hands `work` that span's trace context to
 * record with the task, so the dispatcher and the worker's handler continue it. The span is a child
 * of the request's server span when the HTTP or gRPC instrumentation made one, else of the caller's
 * W3C headers (`incoming`). With OpenTelemetry off, the caller's own traceparent is passed through.
 */
export async function withSubmissionSpan<T extends Submitted | Submitted[]>(
  name: string,
  incoming: Record<string, unknown>,
  work: (trace: TraceContext) => Promise<T>,
): Promise<T> {
  const carrier: Record<string, string> = {};
  for (const key of ["traceparent", "tracestate"])
    if (typeof incoming[key] === "string") carrier[key] = incoming[key];
  if (!tracingOn()) {
    const { traceparent = null, tracestate = null } = carrier;
    const valid = traceparent !== null && TRACEPARENT.test(traceparent);
    return work({ traceparent: valid ? traceparent : null, tracestate: valid ? tracestate : null });
  }
  const active = context.active();
  const parent = trace.getSpan(active) ? active : propagation.extract(active, carrier);
  const span = tracer.startSpan(name, { kind: SpanKind.INTERNAL }, parent);
  const { traceparent, tracestate } = traceHeadersOf(span);
  const stored = {
    traceparent: TRACEPARENT.test(traceparent) ? traceparent : null,
    tracestate: tracestate || null,
  };
  return context.with(parent, () =>
    inSpan(span, async () => {
      const result = await work(stored);
      describe(span, result);
      return result;
    }),
  );
}

/** What a submission answered, per task. */
interface Submitted {
  id: string;
  deduplicated: boolean;
}

/** The submission span's attributes: the task (one) or the count (a batch), and the deduplicated ones. */
function describe(span: Span, result: Submitted | Submitted[]): void {
  if (!span.isRecording()) return;
  const results = Array.isArray(result) ? result : [result];
  if (!Array.isArray(result)) span.setAttribute("taskstream.task.id", result.id);
  span.setAttribute("taskstream.tasks", results.length);
  span.setAttribute("taskstream.tasks.deduplicated", results.filter((r) => r.deduplicated).length);
}
