"""Trace context from the submission reaches the handler; a span when a provider is configured."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from taskstream import TaskContext
from tests.conftest import Harness

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"


@pytest.fixture
def exporter(monkeypatch: pytest.MonkeyPatch) -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    # The global provider can be set once per process; the test swaps it in and back out.
    monkeypatch.setattr(trace, "_TRACER_PROVIDER", provider)
    yield exporter


async def test_without_a_provider_the_handler_gets_the_submission_traceparent(harness: Harness) -> None:
    fake = await harness.fake()
    seen: list[Any] = []

    async def handler(payload: Any, ctx: TaskContext) -> Any:
        seen.append((ctx.traceparent, trace.get_current_span().get_span_context().trace_id))

    await harness.worker(addresses=[fake.address], handlers={"h": handler}).start()
    stream = await fake.stream()
    stream.assign("t1", "h", traceparent=PARENT)
    stream.assign("t2", "h")
    await stream.next("completed")
    await stream.next("completed")
    assert seen[0] == (PARENT, int(TRACE_ID, 16))
    assert seen[1] == (None, 0)


async def test_with_a_provider_the_handler_runs_in_a_task_span(
    harness: Harness, exporter: InMemorySpanExporter
) -> None:
    fake = await harness.fake()
    seen: list[str | None] = []

    async def handler(payload: Any, ctx: TaskContext) -> Any:
        seen.append(ctx.traceparent)
        with trace.get_tracer("test").start_as_current_span("inside"):
            pass
        raise ValueError("traced failure")

    await harness.worker(addresses=[fake.address], handlers={"resize": handler}).start()
    stream = await fake.stream()
    stream.assign("t1", "resize", attempt=2, traceparent=PARENT, tracestate="k=v")
    await stream.next("failed")
    spans = {s.name: s for s in exporter.get_finished_spans()}
    task_span = spans["task resize"]
    assert task_span.context.trace_id == int(TRACE_ID, 16)
    assert task_span.parent is not None and task_span.parent.span_id == 0x00F067AA0BA902B7
    assert task_span.kind == trace.SpanKind.CONSUMER
    assert task_span.attributes == {
        "taskstream.task.id": "t1",
        "taskstream.task.type": "resize",
        "taskstream.task.attempt": 2,
    }
    assert task_span.status.status_code == trace.StatusCode.ERROR
    assert spans["inside"].parent is not None and spans["inside"].parent.span_id == task_span.context.span_id
    assert seen[0] == f"00-{TRACE_ID}-{task_span.context.span_id:016x}-01"
