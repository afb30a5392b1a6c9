import { context, propagation, trace, type Span } from "@opentelemetry/api";
import type { TraceContext } from "../commands/validation/task-spec.ts";

const TRACEPARENT = /^[\da-f]{2}-[\da-f]{32}-[\da-f]{16}-[\da-f]{2}$/;
const tracer = trace.getTracer("taskstream");

/**
 * Runs a submission inside a span continuing the caller's trace (W3C headers or gRPC metadata) and
 * hands `work` the trace context to record with the task, so the worker's handler continues it.
 * With OpenTelemetry off, the caller's own traceparent is passed through unchanged.
 */
export async function withSubmissionSpan<T>(
  name: string,
  incoming: Record<string, unknown>,
  work: (trace: TraceContext) => Promise<T>,
): Promise<T> {
  const carrier: Record<string, string> = {};
  for (const key of ["traceparent", "tracestate"])
    if (typeof incoming[key] === "string") carrier[key] = incoming[key];
  const parent = propagation.extract(context.active(), carrier);
  return tracer.startActiveSpan(name, {}, parent, async (span: Span) => {
    try {
      const outgoing: Record<string, string> = {};
      propagation.inject(context.active(), outgoing);
      const traceparent = outgoing.traceparent ?? carrier.traceparent ?? null;
      const tracestate = outgoing.tracestate ?? carrier.tracestate ?? null;
      return await work({
        traceparent: traceparent && TRACEPARENT.test(traceparent) ? traceparent : null,
        tracestate,
      });
    } catch (error) {
      span.recordException(error as Error);
      throw error;
    } finally {
      span.end();
    }
  });
}
