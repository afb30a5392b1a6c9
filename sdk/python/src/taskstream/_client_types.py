"""The client's values (what is submitted, what is read back) and their wire forms."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from taskstream._json import lenient_json, to_json
from taskstream._proto.v1 import tasks_pb2


@dataclass(frozen=True)
class RetryPolicy:
    """Retry policy of a task; the server's defaults apply to what is left out."""

    max_attempts: int | None = None
    initial_backoff_ms: int | None = None
    backoff_multiplier: float | None = None
    max_backoff_ms: int | None = None


@dataclass(frozen=True)
class Timeouts:
    """Timeouts of a task in milliseconds; the server's defaults apply to what is left out."""

    schedule_to_start_ms: int | None = None
    start_to_close_ms: int | None = None
    heartbeat_ms: int | None = None


@dataclass(frozen=True)
class SubmitSpec:
    """A task to submit. Only ``type`` is required."""

    type: str
    payload: Any = None
    """Any JSON value; None is JSON null."""
    priority: int | None = None
    """0-9, 9 most urgent; 5 when absent."""
    requires: Mapping[str, str] | None = None
    """Labels a worker must carry to run the task."""
    idempotency_key: str = ""
    """A second submission with this key inside the dedup window answers the first task's id."""
    run_at: datetime | str | None = None
    """Not dispatched before this time (a timezone-aware datetime or an RFC 3339 string)."""
    delay_ms: int | None = None
    """Alternative to run_at: not dispatched sooner than this many ms after submission."""
    concurrency_key: str = ""
    """Tasks sharing this key run at most ``concurrency_limit`` (default 1) at a time."""
    concurrency_limit: int | None = None
    retry: RetryPolicy | None = None
    timeouts: Timeouts | None = None
    metadata: Mapping[str, str] | None = None


@dataclass(frozen=True)
class SubmitResult:
    """The answer to a submission."""

    id: str
    deduplicated: bool
    """True when the idempotency key matched an earlier task, whose id this is; nothing was written."""
    conflict: bool = False
    """``submit_many`` only: the idempotency key was first used for a request with other fields;
    nothing was written and ``id`` is that first request's task. (``submit`` raises
    ``TaskstreamError`` with ALREADY_EXISTS instead.)"""


@dataclass(frozen=True)
class TaskError:
    """The last error a task's attempt reported."""

    message: str
    type: str
    non_retryable: bool


@dataclass(frozen=True)
class TaskInfo:
    """A task's current state, payload and result parsed from JSON."""

    id: str
    type: str
    state: str
    """QUEUED, ASSIGNED, RUNNING, SUCCEEDED, DEAD_LETTERED or CANCELLED."""
    priority: int
    attempt: int
    max_attempts: int
    payload: Any
    result: Any
    """The handler's result once SUCCEEDED; None before."""
    last_error: TaskError | None
    idempotency_key: str
    requires: dict[str, str] = field(default_factory=dict)
    metadata: dict[str, str] = field(default_factory=dict)
    created_at: str = ""
    updated_at: str = ""
    available_at: str = ""
    cancel_requested: bool = False
    version: int = 0
    worker_id: str = ""


@dataclass(frozen=True)
class TaskHistoryEvent:
    """One recorded event of a task, its data parsed from JSON."""

    version: int
    type: str
    at: str
    data: Any


@dataclass(frozen=True)
class TaskPage:
    """One page of ``Client.list``; pass ``next_page_token`` for the next ("" after the last)."""

    tasks: list[TaskInfo]
    next_page_token: str


def _run_at(value: datetime | str | None) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("run_at must be a timezone-aware datetime (e.g. datetime.now(timezone.utc))")
        return value.isoformat()
    return value


def to_task_spec(spec: SubmitSpec) -> tasks_pb2.TaskSpec:
    """The wire form of a ``SubmitSpec``; raises ValueError/TypeError for a payload that is not JSON."""
    if not isinstance(spec, SubmitSpec):
        raise TypeError(f"expected a SubmitSpec, got {type(spec).__name__}")
    if not isinstance(spec.type, str) or not spec.type:
        raise ValueError("type: a task type is required")
    message = tasks_pb2.TaskSpec(
        type=spec.type,
        payload_json="" if spec.payload is None else to_json(spec.payload),
        requires=dict(spec.requires or {}),
        idempotency_key=spec.idempotency_key,
        run_at=_run_at(spec.run_at),
        concurrency_key=spec.concurrency_key,
        metadata=dict(spec.metadata or {}),
    )
    if spec.priority is not None:
        message.priority = spec.priority
    if spec.delay_ms is not None:
        message.delay_ms = spec.delay_ms
    if spec.concurrency_limit is not None:
        message.concurrency_limit = spec.concurrency_limit
    if spec.retry is not None:
        retry = spec.retry
        message.retry.SetInParent()
        for name in ("max_attempts", "initial_backoff_ms", "backoff_multiplier", "max_backoff_ms"):
            if getattr(retry, name) is not None:
                setattr(message.retry, name, getattr(retry, name))
    if spec.timeouts is not None:
        timeouts = spec.timeouts
        message.timeouts.SetInParent()
        for name in ("schedule_to_start_ms", "start_to_close_ms", "heartbeat_ms"):
            if getattr(timeouts, name) is not None:
                setattr(message.timeouts, name, getattr(timeouts, name))
    return message


def from_task(task: tasks_pb2.Task) -> TaskInfo:
    """A task as the client returns it."""
    last_error = (
        TaskError(task.last_error.message, task.last_error.type, task.last_error.non_retryable)
        if task.HasField("last_error")
        else None
    )
    return TaskInfo(
        id=task.id,
        type=task.type,
        state=task.state,
        priority=task.priority,
        attempt=task.attempt,
        max_attempts=task.max_attempts,
        payload=lenient_json(task.payload_json),
        result=lenient_json(task.result_json),
        last_error=last_error,
        idempotency_key=task.idempotency_key,
        requires=dict(task.requires),
        metadata=dict(task.metadata),
        created_at=task.created_at,
        updated_at=task.updated_at,
        available_at=task.available_at,
        cancel_requested=task.cancel_requested,
        version=task.version,
        worker_id=task.worker_id,
    )


def from_event(event: tasks_pb2.TaskEvent) -> TaskHistoryEvent:
    """A history event as the client returns it."""
    return TaskHistoryEvent(event.version, event.type, event.at, lenient_json(event.data_json))
