import {
  ProxyTracerProvider,
  ROOT_CONTEXT,
  SpanStatusCode,
  context,
  defaultTextMapGetter,
  defaultTextMapSetter,
  isSpanContextValid,
  trace,
  type Context,
  type Link,
  type Span,
} from "@opentelemetry/api";
import { W3CTraceContextPropagator } from "@opentelemetry/core";

/**
 * The spans of a task's life (docs/tracing.md). Every helper here costs one check while no tracer
 * provider is registered (OpenTelemetry not configured): the hot paths then do nothing more.
 */
export const tracer = trace.getTracer("taskstream");

// The W3C propagator directly: a task's stored trace context is W3C whatever the global propagator.
const w3c = new W3CTraceContextPropagator();
// What the global provider delegates to while no SDK has registered one.
const NOOP_PROVIDER = new ProxyTracerProvider().getDelegate();

/** Whether a tracer provider is registered; without one, spans would be pure overhead. */
export function tracingOn(): boolean {
  const provider = trace.getTracerProvider();
  return !(provider instanceof ProxyTracerProvider) || provider.getDelegate() !== NOOP_PROVIDER;
}

/** The active span when it records (is sampled): the parent the event log's spans hang under. */
export function recordingSpan(from: Context = context.active()): Span | undefined {
  const span = trace.getSpan(from);
  return span?.isRecording() ? span : undefined;
}

/** A context holding a task's stored W3C trace context as its remote parent; null when it has none. */
export function storedTraceContext(traceparent: string | null, tracestate: string | null): Context | null {
  if (!traceparent) return null;
  const carrier: Record<string, string> = { traceparent };
  if (tracestate) carrier.tracestate = tracestate;
  const extracted = w3c.extract(ROOT_CONTEXT, carrier, defaultTextMapGetter);
  const ids = trace.getSpanContext(extracted);
  return ids && isSpanContextValid(ids) ? extracted : null;
}

/** A link to a task's stored trace context; null when it has none. */
export function storedTraceLink(traceparent: string | null, tracestate: string | null): Link | null {
  const stored = storedTraceContext(traceparent, tracestate);
  const ids = stored && trace.getSpanContext(stored);
  return ids ? { context: ids } : null;
}

/** The W3C headers (traceparent, tracestate) naming `span` as the parent. */
export function traceHeadersOf(span: Span): { traceparent: string; tracestate: string } {
  const carrier: Record<string, string> = {};
  w3c.inject(trace.setSpan(ROOT_CONTEXT, span), carrier, defaultTextMapSetter);
  return { traceparent: carrier.traceparent ?? "", tracestate: carrier.tracestate ?? "" };
}

/** Runs `work` with `span` active (so the calls it makes are its children), then ends the span. */
export async function inSpan<T>(span: Span, work: () => Promise<T>): Promise<T> {
  try {
    return await context.with(trace.setSpan(context.active(), span), work);
  } catch (error) {
    failed(span, error);
    throw error;
  } finally {
    span.end();
  }
}

/** Marks a span as failed with `error`. */
export function failed(span: Span, error: unknown): void {
  span.recordException(error instanceof Error ? error : String(error));
  span.setStatus({
    code: SpanStatusCode.ERROR,
    message: error instanceof Error ? error.message : String(error),
  });
}
