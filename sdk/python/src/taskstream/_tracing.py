"""OpenTelemetry: the task's trace context travels from the submission to the handler.

The W3C propagator is used directly rather than the global one: the global propagator may be
configured otherwise (or not at all), and the task's trace context must travel regardless.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from taskstream._version import SDK_VERSION

T = TypeVar("T")

_propagator = TraceContextTextMapPropagator()


def trace_headers(context: otel_context.Context | None = None) -> dict[str, str]:
    """W3C trace headers (traceparent, tracestate) of a context (default: the current one);
    empty when it carries no valid span."""
    carrier: dict[str, str] = {}
    _propagator.inject(carrier, context=context)
    return carrier


def tracing_on() -> bool:
    """Whether a tracer provider has been configured (spans are then recorded)."""
    provider = trace.get_tracer_provider()
    return not isinstance(provider, (trace.ProxyTracerProvider, trace.NoOpTracerProvider))


@dataclass(frozen=True)
class TaskSpanInfo:
    """What the handler span is about."""

    type: str
    task_id: str
    attempt: int
    traceparent: str
    tracestate: str


async def with_task_span(info: TaskSpanInfo, work: Callable[[str | None], Awaitable[T]]) -> T:
    """Runs ``work`` in a span ``task <type>`` that continues the submission's trace, with that span
    as the current OpenTelemetry context (so the handler's own spans and outgoing calls join it).

    With a tracer provider configured the span is recorded; without one the no-op tracer still
    carries the parent span context, so ``work`` receives the submission's traceparent and
    propagation holds either way. With neither there is nothing to do: ``work`` runs directly.
    Must run inside the handler's own asyncio task: the context attached here is that task's.
    """
    if not info.traceparent and not tracing_on():
        return await work(None)
    incoming = {"traceparent": info.traceparent}
    if info.tracestate:
        incoming["tracestate"] = info.tracestate
    # An empty context as the base: the task belongs to the submission's trace, not to whatever
    # context the stream reader happened to run in.
    parent = _propagator.extract(incoming, context=otel_context.Context())
    tracer = trace.get_tracer("taskstream", SDK_VERSION)
    attributes: dict[str, str | int] = {
        "taskstream.task.id": info.task_id,
        "taskstream.task.type": info.type,
        "taskstream.task.attempt": info.attempt,
    }
    with tracer.start_as_current_span(
        f"task {info.type}", context=parent, kind=SpanKind.CONSUMER, attributes=attributes
    ) as span:
        traceparent = trace_headers(trace.set_span_in_context(span)).get("traceparent")
        try:
            return await work(traceparent)
        except asyncio.CancelledError as cancelled:
            # Not an Exception, so the span would not record it by itself.
            span.set_status(Status(StatusCode.ERROR, str(cancelled) or "cancelled"))
            raise
