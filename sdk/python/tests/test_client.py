"""The client against an in-process TaskService: requests on the wire, answers, errors, metadata."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import grpc
import grpc.aio
import pytest
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from taskstream import Client, RetryPolicy, SubmitResult, SubmitSpec, SyncClient, TaskstreamError, Timeouts
from taskstream._proto.v1 import tasks_pb2 as pb
from taskstream._proto.v1.tasks_pb2_grpc import TaskServiceServicer, add_TaskServiceServicer_to_server

REUSED_DETAILS = (
    'idempotencyKey "reused" was used for a different request (task first); use a new key for a new request'
)


class FakeTasks(TaskServiceServicer):
    """Records each request with its metadata and answers from a small table."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any, dict[str, str]]] = []

    def _record(self, name: str, request: Any, context: Any) -> None:
        self.calls.append((name, request, {k: v for k, v in context.invocation_metadata() or ()}))

    @staticmethod
    def _task(id: str, state: str = "QUEUED") -> pb.Task:
        return pb.Task(
            id=id,
            type="echo",
            state=state,
            priority=5,
            attempt=1,
            max_attempts=3,
            payload_json='{"a":1}',
            result_json='{"ok":true}' if state == "SUCCEEDED" else "",
            idempotency_key="k",
            metadata={"m": "v"},
            created_at="2030-01-01T00:00:00.000Z",
            version=3,
            last_error=pb.TaskError(message="boom", type="ValueError") if state == "DEAD_LETTERED" else None,
        )

    async def SubmitTask(self, request: Any, context: Any) -> Any:
        self._record("SubmitTask", request, context)
        if request.task.type == "bad":
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "task.type: unknown")
        if request.task.idempotency_key == "reused":
            await context.abort(grpc.StatusCode.ALREADY_EXISTS, REUSED_DETAILS)
        return pb.SubmitTaskResponse(id="t-1", deduplicated=request.task.idempotency_key == "seen")

    async def SubmitTasks(self, request: Any, context: Any) -> Any:
        self._record("SubmitTasks", request, context)
        return pb.SubmitTasksResponse(
            results=[
                pb.SubmitTaskResponse(id="first", deduplicated=True, conflict=True)
                if task.idempotency_key == "reused"
                else pb.SubmitTaskResponse(id=f"t-{i}")
                for i, task in enumerate(request.tasks)
            ]
        )

    async def GetTask(self, request: Any, context: Any) -> Any:
        self._record("GetTask", request, context)
        if request.id == "missing":
            await context.abort(grpc.StatusCode.NOT_FOUND, "task missing not found")
        return self._task(request.id, "SUCCEEDED")

    async def CancelTask(self, request: Any, context: Any) -> Any:
        self._record("CancelTask", request, context)
        return pb.CancelTaskResponse(task=self._task(request.id, "CANCELLED"))

    async def RetryTask(self, request: Any, context: Any) -> Any:
        self._record("RetryTask", request, context)
        return pb.RetryTaskResponse(task=self._task(request.id, "QUEUED"))

    async def GetTaskHistory(self, request: Any, context: Any) -> Any:
        self._record("GetTaskHistory", request, context)
        events = [
            pb.TaskEvent(
                version=1, type="TaskSubmitted", at="2030-01-01T00:00:00Z", data_json='{"type":"echo"}'
            ),
            pb.TaskEvent(version=2, type="TaskStarted", at="2030-01-01T00:00:01Z", data_json=""),
        ]
        return pb.GetTaskHistoryResponse(events=events)

    async def ListTasks(self, request: Any, context: Any) -> Any:
        self._record("ListTasks", request, context)
        next_token = "" if request.page_token else "page-2"
        return pb.ListTasksResponse(
            tasks=[self._task("a"), self._task("b", "DEAD_LETTERED")], next_page_token=next_token
        )


@pytest.fixture
async def tasks_server() -> AsyncIterator[tuple[FakeTasks, str]]:
    fake = FakeTasks()
    server = grpc.aio.server()
    add_TaskServiceServicer_to_server(fake, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    yield fake, f"127.0.0.1:{port}"
    await server.stop(grace=None)


async def test_submit_sends_the_whole_spec_and_the_api_key(tasks_server: tuple[FakeTasks, str]) -> None:
    fake, address = tasks_server
    async with Client(address, api_key="secret") as client:
        result = await client.submit(
            "echo",
            {"to": "x"},
            priority=7,
            idempotency_key="seen",
            requires={"gpu": "a100"},
            run_at=datetime(2030, 1, 1, tzinfo=UTC),
            concurrency_key="tenant-1",
            concurrency_limit=2,
            retry=RetryPolicy(max_attempts=5, initial_backoff_ms=10),
            timeouts=Timeouts(start_to_close_ms=1000),
            metadata={"m": "v"},
        )
    assert (result.id, result.deduplicated) == ("t-1", True)
    name, request, metadata = fake.calls[0]
    task = request.task
    assert name == "SubmitTask"
    assert metadata["authorization"] == "Bearer secret"
    assert json.loads(task.payload_json) == {"to": "x"}
    assert (task.type, task.priority, task.idempotency_key, dict(task.requires)) == (
        "echo",
        7,
        "seen",
        {"gpu": "a100"},
    )
    assert task.run_at == "2030-01-01T00:00:00+00:00"
    assert (task.concurrency_key, task.concurrency_limit) == ("tenant-1", 2)
    assert task.retry.max_attempts == 5 and task.retry.initial_backoff_ms == 10
    assert not task.retry.HasField("max_backoff_ms")
    assert task.timeouts.start_to_close_ms == 1000 and not task.timeouts.HasField("heartbeat_ms")
    assert not task.HasField("delay_ms")
    assert dict(task.metadata) == {"m": "v"}


async def test_submit_carries_the_current_trace_context(tasks_server: tuple[FakeTasks, str]) -> None:
    fake, address = tasks_server
    span = NonRecordingSpan(SpanContext(0xABC, 0xDEF, is_remote=False, trace_flags=TraceFlags(1)))
    async with Client(address) as client:
        with trace.use_span(span):
            await client.submit("echo")
        await client.submit("echo")
    assert fake.calls[0][2]["traceparent"] == f"00-{0xABC:032x}-{0xDEF:016x}-01"
    assert "traceparent" not in fake.calls[1][2]
    assert fake.calls[1][1].task.payload_json == ""


async def test_reads_cancels_retries_lists_and_pages(tasks_server: tuple[FakeTasks, str]) -> None:
    fake, address = tasks_server
    async with Client(address) as client:
        task = await client.get("t-1")
        assert (task.state, task.payload, task.result, task.metadata, task.version) == (
            "SUCCEEDED",
            {"a": 1},
            {"ok": True},
            {"m": "v"},
            3,
        )
        assert task.last_error is None
        assert (await client.cancel("t-1", reason="no longer needed")).state == "CANCELLED"
        assert fake.calls[-1][1].reason == "no longer needed"
        assert (await client.retry("t-1")).state == "QUEUED"
        history = await client.history("t-1")
        assert [(e.version, e.type, e.data) for e in history] == [
            (1, "TaskSubmitted", {"type": "echo"}),
            (2, "TaskStarted", None),
        ]
        page = await client.list(state="QUEUED", type="echo", page_size=2)
        assert [t.id for t in page.tasks] == ["a", "b"] and page.next_page_token == "page-2"
        assert page.tasks[1].last_error is not None and page.tasks[1].last_error.type == "ValueError"
        request = fake.calls[-1][1]
        assert (request.state, request.type, request.page_size, request.page_token) == (
            "QUEUED",
            "echo",
            2,
            "",
        )
        last = await client.list(page_token=page.next_page_token)
        assert last.next_page_token == ""
        results = await client.submit_many([SubmitSpec("echo", 1), SubmitSpec("echo", 2, priority=9)])
        assert [r.id for r in results] == ["t-0", "t-1"]
        assert [t.payload_json for t in fake.calls[-1][1].tasks] == ["1", "2"]


async def test_failed_calls_raise_typed_errors_with_the_status(tasks_server: tuple[FakeTasks, str]) -> None:
    _, address = tasks_server
    async with Client(address) as client:
        with pytest.raises(TaskstreamError) as missing:
            await client.get("missing")
        assert missing.value.code == grpc.StatusCode.NOT_FOUND
        assert missing.value.status == "NOT_FOUND"
        assert missing.value.details == "task missing not found"
        with pytest.raises(TaskstreamError) as invalid:
            await client.submit("bad")
        assert invalid.value.code == grpc.StatusCode.INVALID_ARGUMENT
        with pytest.raises(ValueError, match="type"):
            await client.submit("")
        with pytest.raises(ValueError, match="timezone-aware"):
            await client.submit("echo", run_at=datetime(2030, 1, 1))
        with pytest.raises(TypeError):
            await client.submit("echo", colour="red")
    async with Client("127.0.0.1:1", timeout=2) as unreachable:
        with pytest.raises(TaskstreamError) as down:
            await unreachable.get("x")
        assert down.value.code == grpc.StatusCode.UNAVAILABLE


async def test_a_key_reused_for_another_request_is_already_exists_alone_and_flagged_in_a_batch(
    tasks_server: tuple[FakeTasks, str],
) -> None:
    _, address = tasks_server
    async with Client(address) as client:
        with pytest.raises(TaskstreamError) as conflict:
            await client.submit("echo", 2, idempotency_key="reused")
        assert (conflict.value.code, conflict.value.status) == (
            grpc.StatusCode.ALREADY_EXISTS,
            "ALREADY_EXISTS",
        )
        assert conflict.value.details == REUSED_DETAILS
        results = await client.submit_many(
            [SubmitSpec("echo", 1), SubmitSpec("echo", 2, idempotency_key="reused")]
        )
    assert results == [
        SubmitResult("t-0", deduplicated=False, conflict=False),
        SubmitResult("first", deduplicated=True, conflict=True),
    ]

    def use_sync() -> None:
        with SyncClient(address) as client:
            with pytest.raises(TaskstreamError) as sync_conflict:
                client.submit("echo", 2, idempotency_key="reused")
            assert sync_conflict.value.code == grpc.StatusCode.ALREADY_EXISTS
            assert [
                r.conflict for r in client.submit_many([SubmitSpec("echo", idempotency_key="reused")])
            ] == [True]

    await asyncio.to_thread(use_sync)


async def test_the_sync_client_makes_the_same_calls(tasks_server: tuple[FakeTasks, str]) -> None:
    fake, address = tasks_server

    def use() -> None:
        with SyncClient(address, api_key="secret") as client:
            assert client.submit("echo", [1]).id == "t-1"
            assert client.get("t-1").state == "SUCCEEDED"
            with pytest.raises(TaskstreamError) as missing:
                client.get("missing")
            assert missing.value.code == grpc.StatusCode.NOT_FOUND
            assert client.list().next_page_token == "page-2"

    # The servicer runs on this loop, so the blocking client runs in a thread.
    await asyncio.to_thread(use)
    assert [c[0] for c in fake.calls] == ["SubmitTask", "GetTask", "GetTask", "ListTasks"]
    assert fake.calls[0][2]["authorization"] == "Bearer secret"
