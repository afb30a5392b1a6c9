"""One attempt of a task running in this worker.

It builds the handler's context, runs the handler in its own asyncio task (so cancelling the
handler never cancels the bookkeeping around it), interrupts it on cancel, deadline or shutdown,
and turns whatever the handler does into an ``Outcome``. ``run`` never raises for the handler's
sake: every way a handler can end becomes a report.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from taskstream._json import parse_json, to_json
from taskstream._proto.v1.workers_pb2 import Assignment, AttemptFailed
from taskstream._throttle import ProgressThrottle
from taskstream._tracing import TaskSpanInfo, with_task_span
from taskstream.context import TaskContext
from taskstream.errors import AttemptInterrupted, DeadlineExceeded, TaskCancelled, describe_error

START_TO_CLOSE_TIMEOUT = "START_TO_CLOSE_TIMEOUT"
"""The error type of a handler stopped by its attempt's deadline."""

Handler = Callable[[Any, TaskContext], Any]
"""``async def handler(payload, ctx) -> result`` or a plain function (run in a thread)."""


@dataclass(frozen=True)
class Completed:
    """The handler returned a JSON value."""

    result: Any
    result_json: str


@dataclass(frozen=True)
class Failed:
    """The handler raised, was interrupted, or its input or output was not JSON."""

    failure: AttemptFailed


Outcome = Completed | Failed


@dataclass(frozen=True)
class HandlerSpec:
    """A registered handler and whether it is a coroutine function (else it runs in a thread)."""

    fn: Handler
    is_async: bool


@dataclass(frozen=True)
class AttemptEnv:
    """What an attempt needs from its worker."""

    send_progress: Callable[[str], None]
    progress_window: float
    """Seconds between two progress reports (see ``heartbeat_window``)."""
    max_details_bytes: Callable[[], int]
    executor: Executor | None
    """Runs synchronous handlers; None for an async handler."""
    worker_id: str


class AttemptRun:
    """Runs one assignment's handler once and reports how it ended."""

    def __init__(self, assignment: Assignment, handler: HandlerSpec, env: AttemptEnv) -> None:
        self.assignment = assignment
        self.task_id = assignment.task_id
        self.attempt = assignment.attempt
        self._handler = handler
        self._env = env
        self._throttle = ProgressThrottle(env.send_progress, env.progress_window)
        self._ctx: TaskContext | None = None
        self._handler_task: asyncio.Task[Any] | None = None
        self._deadline_timer: asyncio.TimerHandle | None = None
        self._early_reason: AttemptInterrupted | None = None
        self.cancel_requested = False
        self.done: asyncio.Task[Outcome] | None = None

    def start(self) -> asyncio.Task[Outcome]:
        """Starts the attempt (once); the task's result is the outcome."""
        if self.done is None:
            self.done = asyncio.get_running_loop().create_task(
                self._run(), name=f"taskstream attempt {self.task_id}#{self.attempt}"
            )
        return self.done

    def cancel(self, reason: str) -> None:
        """The dispatcher cancelled the attempt: a failure after this reports ``cancelled``."""
        self.cancel_requested = True
        self.interrupt(TaskCancelled(reason))

    def interrupt(self, reason: AttemptInterrupted) -> None:
        """Interrupts the handler with ``reason`` (the first reason wins): an async handler's task
        is cancelled; a synchronous handler sees it through its context."""
        if self._ctx is None:
            self._early_reason = self._early_reason or reason
            return
        if not self._ctx._interrupt(reason):
            return
        if self._handler.is_async and self._handler_task is not None:
            self._handler_task.cancel(str(reason))

    async def _run(self) -> Outcome:
        a = self.assignment
        try:
            payload = parse_json(a.payload_json)
        except ValueError as error:
            # The same bytes would fail on every attempt: not retryable.
            return self._failed(f"payload is not valid JSON: {error}", "INVALID_PAYLOAD", True)
        span = TaskSpanInfo(a.type, a.task_id, a.attempt, a.traceparent, a.tracestate)
        self._handler_task = asyncio.get_running_loop().create_task(
            with_task_span(span, lambda traceparent: self._invoke(payload, traceparent)),
            name=f"taskstream handler {a.type} {a.task_id}#{a.attempt}",
        )
        try:
            result = await self._handler_task
        except asyncio.CancelledError:
            reason = self._ctx.cancel_reason if self._ctx else None
            if reason is None:
                self.end_progress(flush=False)
                raise  # not an interruption of ours: this run itself is being cancelled
            return self._failed_with(reason)
        except Exception as error:  # noqa: BLE001 - every handler error becomes a report
            return self._failed_with(error)
        finally:
            self._settle()
        try:
            completed = Completed(result, to_json(result))
        except (TypeError, ValueError) as error:
            return self._failed(f"result is not JSON-serializable: {error}", "INVALID_RESULT", True)
        # The result supersedes details still waiting for their window: no attempt will read them.
        self.end_progress(flush=False)
        return completed

    def end_progress(self, flush: bool) -> None:
        """Ends the attempt's progress reports: details still waiting for their window are sent now
        with ``flush`` (before a failure report, so the next attempt starts from them), else dropped."""
        self._throttle.close(flush)

    async def _invoke(self, payload: Any, traceparent: str | None) -> Any:
        ctx = self._context(traceparent)
        self._ctx = ctx
        self._arm_deadline()
        if self._early_reason is not None:
            self.interrupt(self._early_reason)
        if self._handler.is_async:
            coroutine: Awaitable[Any] = self._handler.fn(payload, ctx)
            return await coroutine
        # The thread runs in a copy of this task's context, so the handler sees the task's span.
        call = functools.partial(contextvars.copy_context().run, self._handler.fn, payload, ctx)
        return await asyncio.get_running_loop().run_in_executor(self._env.executor, call)

    def _context(self, traceparent: str | None) -> TaskContext:
        a = self.assignment
        try:
            last_details = parse_json(a.last_details_json)
        except ValueError:
            last_details = a.last_details_json
        deadline = (
            datetime.fromtimestamp(a.deadline_unix_ms / 1000, tz=UTC) if a.deadline_unix_ms > 0 else None
        )
        return TaskContext(
            task_id=a.task_id,
            attempt=a.attempt,
            max_attempts=a.max_attempts,
            task_type=a.type,
            idempotency_key=a.idempotency_key,
            priority=a.priority,
            metadata=a.metadata,
            deadline=deadline,
            last_details=last_details,
            traceparent=traceparent,
            worker_id=self._env.worker_id,
            record_progress=self._throttle.record,
            max_details_bytes=self._env.max_details_bytes,
        )

    def _arm_deadline(self) -> None:
        deadline_ms = self.assignment.deadline_unix_ms
        if deadline_ms <= 0:
            return
        deadline = datetime.fromtimestamp(deadline_ms / 1000, tz=UTC)
        left = deadline_ms / 1000 - time.time()
        if left <= 0:
            self.interrupt(DeadlineExceeded(deadline))
            return
        self._deadline_timer = asyncio.get_running_loop().call_later(
            left, self.interrupt, DeadlineExceeded(deadline)
        )

    def _settle(self) -> None:
        if self._deadline_timer is not None:
            self._deadline_timer.cancel()
        if self._ctx is not None:
            self._ctx._finish()

    def _failed_with(self, error: BaseException) -> Failed:
        report = describe_error(error)
        reason = self._ctx.cancel_reason if self._ctx else None
        if not self.cancel_requested and isinstance(reason, DeadlineExceeded):
            # Stopped by its deadline, whatever it raised: the type the dispatcher records when its
            # own timer fires first, so the outcome does not depend on which reaches the log first.
            return self._failed(report.message, START_TO_CLOSE_TIMEOUT, False)
        return self._failed(report.message, report.error_type, report.non_retryable)

    def _failed(self, message: str, error_type: str, non_retryable: bool) -> Failed:
        # The latest progress goes out before the failure: the next attempt starts from it.
        self.end_progress(flush=True)
        # Cancelled only when the dispatcher asked: a deadline or shutdown interruption is an
        # ordinary failure to retry, whereas cancelled = true ends a task whose cancel was requested.
        return Failed(
            AttemptFailed(
                task_id=self.task_id,
                attempt=self.attempt,
                message=message,
                error_type=error_type,
                non_retryable=non_retryable,
                cancelled=self.cancel_requested,
            )
        )
