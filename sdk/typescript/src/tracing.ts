import {
  ProxyTracerProvider,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  context,
  defaultTextMapGetter,
  defaultTextMapSetter,
  trace,
  type Context,
} from "@opentelemetry/api";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { SDK_VERSION } from "./version.ts";

// The W3C propagator is used directly rather than the global one: the global propagator is a no-op
// until an OpenTelemetry SDK registers one, and the task's trace context must travel regardless.
const propagator = new W3CTraceContextPropagator();
const tracer = trace.getTracer("@taskstream/sdk", SDK_VERSION);
// What the global provider delegates to while no OpenTelemetry SDK has registered one.
const NOOP_PROVIDER = new ProxyTracerProvider().getDelegate();

/** Whether no tracer provider is registered, so spans would be neither recorded nor propagated. */
function tracingOff(): boolean {
  const provider = trace.getTracerProvider();
  return provider instanceof ProxyTracerProvider && provider.getDelegate() === NOOP_PROVIDER;
}

/** W3C trace headers (traceparent, tracestate) of a context; empty when it carries no valid span. */
export function traceHeaders(from: Context = context.active()): Record<string, string> {
  const carrier: Record<string, string> = {};
  propagator.inject(from, carrier, defaultTextMapSetter);
  return carrier;
}

/** What the handler span is about. */
export interface TaskSpanInfo {
  type: string;
  taskId: string;
  attempt: number;
  traceparent: string;
  tracestate: string;
}

/**
 * Runs `work` inside a span `task <type>` that continues the submission's trace. With a tracer
 * provider registered the span is recorded; without one the no-op tracer still carries the parent
 * span context, so `work` receives the submission's own traceparent and propagation holds either way.
 * With neither a provider nor a submission trace there is nothing to do: `work` runs directly.
 */
export async function withTaskSpan<T>(
  info: TaskSpanInfo,
  work: (traceparent: string | null) => Promise<T>,
): Promise<T> {
  if (!info.traceparent && tracingOff()) return work(null);
  const incoming: Record<string, string> = {};
  if (info.traceparent) incoming.traceparent = info.traceparent;
  if (info.tracestate) incoming.tracestate = info.tracestate;
  // ROOT_CONTEXT: the task belongs to the submission's trace, not to whatever context the stream
  // callback happens to run in.
  const parent = propagator.extract(ROOT_CONTEXT, incoming, defaultTextMapGetter);
  const attributes = {
    "taskstream.task.id": info.taskId,
    "taskstream.task.type": info.type,
    "taskstream.task.attempt": info.attempt,
  };
  return tracer.startActiveSpan(
    `task ${info.type}`,
    { kind: SpanKind.CONSUMER, attributes },
    parent,
    async (span) => {
      try {
        // From the span itself, not context.active(): without a context manager the latter is empty.
        const headers = traceHeaders(trace.setSpan(ROOT_CONTEXT, span));
        return await work(headers.traceparent ?? null);
      } catch (error) {
        span.recordException(error instanceof Error ? error : String(error));
        span.setStatus({
          code: SpanStatusCode.ERROR,
          message: error instanceof Error ? error.message : String(error),
        });
        throw error;
      } finally {
        span.end();
      }
    },
  );
}
