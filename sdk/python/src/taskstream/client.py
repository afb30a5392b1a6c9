"""Submits, reads and cancels tasks over gRPC (TaskService), asynchronously or synchronously.

Payloads and results are plain JSON values. The current OpenTelemetry trace context travels as
``traceparent``/``tracestate`` metadata, so the task's handler continues the caller's trace.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Sequence
from typing import Any

import grpc
import grpc.aio

from taskstream._client_types import (
    RetryPolicy,
    SubmitResult,
    SubmitSpec,
    TaskError,
    TaskHistoryEvent,
    TaskInfo,
    TaskPage,
    Timeouts,
    from_event,
    from_task,
    to_task_spec,
)
from taskstream._proto.v1 import tasks_pb2
from taskstream._proto.v1.tasks_pb2_grpc import TaskServiceStub
from taskstream._tracing import trace_headers

__all__ = [
    "Client",
    "RetryPolicy",
    "SubmitResult",
    "SubmitSpec",
    "SyncClient",
    "TaskError",
    "TaskHistoryEvent",
    "TaskInfo",
    "TaskPage",
    "TaskstreamError",
    "Timeouts",
]


class TaskstreamError(Exception):
    """A failed call: the gRPC status ``code`` (e.g. ``grpc.StatusCode.NOT_FOUND``), its name in
    ``status`` and the server's ``details``."""

    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(f"{code.name}: {details}" if details else code.name)
        self.code = code
        self.status = code.name
        self.details = details


def _error(error: grpc.RpcError) -> TaskstreamError:
    code = error.code() if hasattr(error, "code") else grpc.StatusCode.UNKNOWN
    details = error.details() if hasattr(error, "details") else str(error)
    return TaskstreamError(code or grpc.StatusCode.UNKNOWN, details or "")


def _submitted_many(response: tasks_pb2.SubmitTasksResponse) -> builtins.list[SubmitResult]:
    """SubmitTasks' answers, each with its conflict flag."""
    return [SubmitResult(r.id, r.deduplicated, r.conflict) for r in response.results]


def _spec(type_or_spec: str | SubmitSpec, payload: Any, options: dict[str, Any]) -> tasks_pb2.TaskSpec:
    if isinstance(type_or_spec, SubmitSpec):
        if payload is not None or options:
            raise TypeError("pass either a SubmitSpec or a type with payload and options, not both")
        return to_task_spec(type_or_spec)
    return to_task_spec(SubmitSpec(type=type_or_spec, payload=payload, **options))


def _list_request(state: str, type: str, page_size: int, page_token: str) -> tasks_pb2.ListTasksRequest:
    return tasks_pb2.ListTasksRequest(state=state, type=type, page_size=page_size, page_token=page_token)


class _Base:
    def __init__(
        self,
        address: str,
        api_key: str | None,
        timeout: float,
    ) -> None:
        if not isinstance(address, str) or ":" not in address:
            raise ValueError(f"address must be host:port, got {address!r}")
        if api_key is not None and (not api_key or any(c.isspace() for c in api_key)):
            raise ValueError("api_key must be a non-empty string without whitespace")
        if not timeout > 0:
            raise ValueError(f"timeout must be positive, got {timeout!r}")
        self._auth = [("authorization", f"Bearer {api_key}")] if api_key else []
        self._timeout = timeout

    def _metadata(self) -> list[tuple[str, str]]:
        return [*self._auth, *trace_headers().items()]


class Client(_Base):
    """The asyncio client. Use ``async with Client(address) as client:`` or call ``close()``."""

    def __init__(
        self,
        address: str,
        *,
        credentials: grpc.ChannelCredentials | None = None,
        api_key: str | None = None,
        timeout: float = 30.0,
        channel_options: Sequence[tuple[str, int | str]] = (),
    ) -> None:
        """``address`` is host:port of any Taskstream API process; ``timeout`` the deadline of each
        call in seconds; ``credentials`` TLS (insecure when None); ``api_key`` sent as a bearer token."""
        super().__init__(address, api_key, timeout)
        options = list(channel_options)
        self._channel = (
            grpc.aio.secure_channel(address, credentials, options=options)
            if credentials is not None
            else grpc.aio.insecure_channel(address, options=options)
        )
        self._stub = TaskServiceStub(self._channel)

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Closes the channel."""
        await self._channel.close(None)

    async def _call(self, method: Any, request: Any) -> Any:
        try:
            return await method(request, timeout=self._timeout, metadata=self._metadata())
        except grpc.RpcError as error:
            raise _error(error) from error

    async def submit(self, task: str | SubmitSpec, payload: Any = None, **options: Any) -> SubmitResult:
        """Submits one task: ``submit("email", {"to": ...}, priority=7)`` or ``submit(SubmitSpec(...))``;
        options are ``SubmitSpec``'s fields. An idempotency key first used for a request with other
        fields raises ``TaskstreamError`` with ALREADY_EXISTS."""
        response = await self._call(
            self._stub.SubmitTask, tasks_pb2.SubmitTaskRequest(task=_spec(task, payload, options))
        )
        return SubmitResult(response.id, response.deduplicated)

    async def submit_many(self, specs: Iterable[SubmitSpec]) -> builtins.list[SubmitResult]:
        """Submits many tasks in one call: all are validated before any is written. An entry whose
        idempotency key was first used for a request with other fields has ``conflict`` set."""
        request = tasks_pb2.SubmitTasksRequest(tasks=[to_task_spec(s) for s in specs])
        return _submitted_many(await self._call(self._stub.SubmitTasks, request))

    async def get(self, id: str) -> TaskInfo:
        """A task's current state; raises ``TaskstreamError`` with NOT_FOUND when unknown."""
        return from_task(await self._call(self._stub.GetTask, tasks_pb2.GetTaskRequest(id=id)))

    async def cancel(self, id: str, reason: str = "") -> TaskInfo:
        """Cancels a task (at once when waiting, through its worker when running); returns its state."""
        response = await self._call(self._stub.CancelTask, tasks_pb2.CancelTaskRequest(id=id, reason=reason))
        return from_task(response.task)

    async def retry(self, id: str) -> TaskInfo:
        """Revives a dead-lettered task with fresh attempts; returns its state."""
        response = await self._call(self._stub.RetryTask, tasks_pb2.RetryTaskRequest(id=id))
        return from_task(response.task)

    async def history(self, id: str) -> builtins.list[TaskHistoryEvent]:
        """Every event recorded for a task, in order."""
        response = await self._call(self._stub.GetTaskHistory, tasks_pb2.GetTaskHistoryRequest(id=id))
        return [from_event(e) for e in response.events]

    async def list(
        self, *, state: str = "", type: str = "", page_size: int = 0, page_token: str = ""
    ) -> TaskPage:
        """One page of tasks from the read model, oldest first, filtered by ``state`` and ``type``;
        at most ``page_size`` (1-500, 0 means 100)."""
        response = await self._call(self._stub.ListTasks, _list_request(state, type, page_size, page_token))
        return TaskPage([from_task(t) for t in response.tasks], response.next_page_token)


class SyncClient(_Base):
    """The same calls as ``Client``, blocking, for code without an event loop."""

    def __init__(
        self,
        address: str,
        *,
        credentials: grpc.ChannelCredentials | None = None,
        api_key: str | None = None,
        timeout: float = 30.0,
        channel_options: Sequence[tuple[str, int | str]] = (),
    ) -> None:
        super().__init__(address, api_key, timeout)
        options = list(channel_options)
        self._channel = (
            grpc.secure_channel(address, credentials, options=options)
            if credentials is not None
            else grpc.insecure_channel(address, options=options)
        )
        self._stub = TaskServiceStub(self._channel)

    def __enter__(self) -> SyncClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Closes the channel."""
        self._channel.close()

    def _call(self, method: Any, request: Any) -> Any:
        try:
            return method(request, timeout=self._timeout, metadata=self._metadata())
        except grpc.RpcError as error:
            raise _error(error) from error

    def submit(self, task: str | SubmitSpec, payload: Any = None, **options: Any) -> SubmitResult:
        """See ``Client.submit``."""
        response = self._call(
            self._stub.SubmitTask, tasks_pb2.SubmitTaskRequest(task=_spec(task, payload, options))
        )
        return SubmitResult(response.id, response.deduplicated)

    def submit_many(self, specs: Iterable[SubmitSpec]) -> builtins.list[SubmitResult]:
        """See ``Client.submit_many``."""
        request = tasks_pb2.SubmitTasksRequest(tasks=[to_task_spec(s) for s in specs])
        return _submitted_many(self._call(self._stub.SubmitTasks, request))

    def get(self, id: str) -> TaskInfo:
        """See ``Client.get``."""
        return from_task(self._call(self._stub.GetTask, tasks_pb2.GetTaskRequest(id=id)))

    def cancel(self, id: str, reason: str = "") -> TaskInfo:
        """See ``Client.cancel``."""
        return from_task(
            self._call(self._stub.CancelTask, tasks_pb2.CancelTaskRequest(id=id, reason=reason)).task
        )

    def retry(self, id: str) -> TaskInfo:
        """See ``Client.retry``."""
        return from_task(self._call(self._stub.RetryTask, tasks_pb2.RetryTaskRequest(id=id)).task)

    def history(self, id: str) -> builtins.list[TaskHistoryEvent]:
        """See ``Client.history``."""
        response = self._call(self._stub.GetTaskHistory, tasks_pb2.GetTaskHistoryRequest(id=id))
        return [from_event(e) for e in response.events]

    def list(self, *, state: str = "", type: str = "", page_size: int = 0, page_token: str = "") -> TaskPage:
        """See ``Client.list``."""
        response = self._call(self._stub.ListTasks, _list_request(state, type, page_size, page_token))
        return TaskPage([from_task(t) for t in response.tasks], response.next_page_token)
