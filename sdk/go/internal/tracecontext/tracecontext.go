// Package tracecontext carries W3C trace context (traceparent, tracestate) between Go contexts and
// the strings Taskstream stores with a task. The W3C propagator is used directly rather than the
// global one: the global propagator does nothing until an application installs one, and a task's
// trace context must travel regardless.
package tracecontext

import (
	"context"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

var w3c = propagation.TraceContext{}

// Headers returns the traceparent and tracestate of ctx's span; empty strings when it has none.
func Headers(ctx context.Context) (traceparent, tracestate string) {
	carrier := propagation.MapCarrier{}
	w3c.Inject(ctx, carrier)
	return carrier["traceparent"], carrier["tracestate"]
}

// Extract returns ctx carrying the remote span context of traceparent/tracestate. Whatever span
// ctx carried is dropped first: a task belongs to its submission's trace, not to the trace that
// happened to be active where the worker was started.
func Extract(ctx context.Context, traceparent, tracestate string) context.Context {
	ctx = trace.ContextWithSpanContext(ctx, trace.SpanContext{})
	if traceparent == "" {
		return ctx
	}
	carrier := propagation.MapCarrier{"traceparent": traceparent}
	if tracestate != "" {
		carrier["tracestate"] = tracestate
	}
	return w3c.Extract(ctx, carrier)
}
