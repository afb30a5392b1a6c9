"""Errors a handler raises or observes, and how the worker describes a raised error to the dispatcher."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


class NonRetryableError(Exception):
    """Raised by a handler when retrying cannot help: the dispatcher dead-letters the task at once.

    Any exception with a ``non_retryable = True`` attribute is treated the same way. The error type
    reported is the class name, so subclasses report their own name.
    """

    non_retryable = True


class AttemptInterrupted(Exception):
    """Why a handler was interrupted: its asyncio task is cancelled and ``ctx.cancel_reason`` says why.

    A handler whose task is cancelled and that lets the ``asyncio.CancelledError`` propagate is
    reported as failed with this exception's type and message. Synchronous handlers (run in a
    thread, which cannot be cancelled) see it raised by ``ctx.heartbeat()`` instead.
    """


class TaskCancelled(AttemptInterrupted):
    """The dispatcher cancelled the attempt (the task's cancellation was requested, or it timed out)."""

    def __init__(self, reason: str = "") -> None:
        super().__init__(f"cancelled: {reason}" if reason else "cancelled")
        self.reason = reason


class DeadlineExceeded(AttemptInterrupted):
    """The attempt's deadline passed before the handler finished.

    A handler interrupted by it is reported as a retryable ``START_TO_CLOSE_TIMEOUT`` (the type the
    dispatcher records when its own deadline timer fires first), whatever it raises, unless the
    dispatcher cancelled the attempt before.
    """

    def __init__(self, deadline: datetime) -> None:
        super().__init__(f"deadline {deadline.isoformat()} exceeded")
        self.deadline = deadline


class WorkerStopping(AttemptInterrupted):
    """The worker is shutting down and the handler outlived the grace period."""

    def __init__(self) -> None:
        super().__init__("the worker is stopping")


class WorkerError(Exception):
    """A fatal error of a worker: ``Worker.run()`` raises it when retrying cannot help
    (e.g. the dispatcher refused the registration as invalid or the API key as unauthenticated)."""


@dataclass(frozen=True)
class ErrorReport:
    """What the dispatcher records of a raised exception."""

    message: str
    error_type: str
    non_retryable: bool


def describe_error(error: BaseException) -> ErrorReport:
    """Describes an exception for an ``AttemptFailed`` report: message, class name, retryability."""
    error_type = type(error).__name__
    message = str(error) or error_type
    return ErrorReport(message, error_type, getattr(error, "non_retryable", False) is True)
