import { ProxyTracerProvider, context, propagation, trace, type Span } from "@opentelemetry/api";

/** The W3C trace context a submission carries to its task (null parts when the caller sent none). */
export interface TraceContext {
  traceparent: string | null;
  tracestate: string | null;
}

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
  if (!tracingOn()) {
    const { traceparent = null, tracestate = null } = carrier;
    const valid = traceparent !== null && TRACEPARENT.test(traceparent);
    return work({ traceparent: valid ? traceparent : null, tracestate: valid ? tracestate : null });
  }
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

/** Whether a tracer provider is registered; without one, spans and context would be pure overhead. */
function tracingOn(): boolean {
  const provider = trace.getTracerProvider();
  return !(provider instanceof ProxyTracerProvider) || provider.getDelegateTracer("taskstream") !== undefined;
}
