"""What a handler receives besides its payload: the attempt's identity, limits and controls."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Any

from taskstream._json import to_json
from taskstream.errors import AttemptInterrupted


class TaskContext:
    """The handler's view of one attempt.

    Cancellation: an async handler's asyncio task is cancelled on a CancelAttempt from the
    dispatcher, at the deadline, and when the worker stops after its grace period; ``cancel_reason``
    then says which (``TaskCancelled``, ``DeadlineExceeded`` or ``WorkerStopping``). A synchronous
    handler runs in a thread that cannot be cancelled: it polls ``is_cancelled()``, and
    ``heartbeat()`` raises the reason once there is one.
    """

    def __init__(
        self,
        *,
        task_id: str,
        attempt: int,
        max_attempts: int,
        task_type: str,
        idempotency_key: str,
        priority: int,
        metadata: Mapping[str, str],
        deadline: datetime | None,
        last_details: Any,
        traceparent: str | None,
        worker_id: str,
        record_progress: Callable[[str], None],
        max_details_bytes: Callable[[], int],
    ) -> None:
        self.task_id = task_id
        """The task's id."""
        self.attempt = attempt
        """1 for the first attempt; also the fencing token the dispatcher checks on every report."""
        self.max_attempts = max_attempts
        self.task_type = task_type
        self.idempotency_key = idempotency_key
        """The key the task was submitted with ("" when none): use it to make side effects idempotent."""
        self.priority = priority
        self.metadata: Mapping[str, str] = MappingProxyType(dict(metadata))
        self.deadline = deadline
        """When the attempt must finish (timezone-aware UTC); None when unbounded."""
        self.last_details = last_details
        """Details the previous attempt recorded with ``heartbeat``; None when there are none."""
        self.traceparent = traceparent
        """W3C traceparent of the handler's span (of the submission when tracing is off); None when none."""
        self.worker_id = worker_id
        self._record_progress = record_progress
        self._max_details_bytes = max_details_bytes
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._cancel_reason: AttemptInterrupted | None = None
        self._finished = False

    @property
    def cancel_reason(self) -> AttemptInterrupted | None:
        """Why the attempt was interrupted (cancel, deadline, shutdown); None while it was not."""
        return self._cancel_reason

    def is_cancelled(self) -> bool:
        """Whether the attempt was interrupted; a synchronous handler should then stop."""
        return self._cancel_reason is not None

    def heartbeat(self, details: Any = None) -> None:
        """Records progress ``details`` (any JSON value): a sign of life for the task's heartbeat
        timeout, and the next attempt's ``last_details``. Throttled by the task's own heartbeat
        timeout: the first call goes out at once, then at most one report per 80% of that timeout
        (per 30 s when the task has none), the latest details going out at the end of the window.
        When the attempt fails, details still held back are sent before the failure; when it
        succeeds they are dropped. Safe to call from a synchronous handler's thread, where it raises
        ``cancel_reason`` once the attempt was interrupted."""
        details_json = to_json(details)
        limit = self._max_details_bytes()
        size = len(details_json.encode())
        if limit > 0 and size > limit:
            raise ValueError(f"heartbeat details of {size} bytes exceed the limit of {limit} bytes")
        if threading.get_ident() == self._loop_thread:
            self._record(details_json)
            return
        if self._cancel_reason is not None:
            raise self._cancel_reason
        self._loop.call_soon_threadsafe(self._record, details_json)

    def _record(self, details_json: str) -> None:
        # A report about a finished attempt would only be rejected as stale.
        if not self._finished:
            self._record_progress(details_json)

    def _interrupt(self, reason: AttemptInterrupted) -> bool:
        """Records the first reason; False when the attempt was already interrupted."""
        if self._cancel_reason is not None:
            return False
        self._cancel_reason = reason
        return True

    def _finish(self) -> None:
        self._finished = True
