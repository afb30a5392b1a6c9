"""Taskstream's Python SDK: a worker that runs task handlers, and a client that submits tasks.

Both are asyncio-native (``Worker``, ``Client``); ``run_worker`` and ``SyncClient`` serve
synchronous programs.
"""

from taskstream._version import SDK_VERSION
from taskstream.backoff import BackoffPolicy
from taskstream.client import (
    Client,
    RetryPolicy,
    SubmitResult,
    SubmitSpec,
    SyncClient,
    TaskError,
    TaskHistoryEvent,
    TaskInfo,
    TaskPage,
    TaskstreamError,
    Timeouts,
)
from taskstream.context import TaskContext
from taskstream.errors import (
    AttemptInterrupted,
    DeadlineExceeded,
    NonRetryableError,
    TaskCancelled,
    WorkerError,
    WorkerStopping,
)
from taskstream.worker import Worker, run_worker

__all__ = [
    "SDK_VERSION",
    "AttemptInterrupted",
    "BackoffPolicy",
    "Client",
    "DeadlineExceeded",
    "NonRetryableError",
    "RetryPolicy",
    "SubmitResult",
    "SubmitSpec",
    "SyncClient",
    "TaskCancelled",
    "TaskContext",
    "TaskError",
    "TaskHistoryEvent",
    "TaskInfo",
    "TaskPage",
    "TaskstreamError",
    "Timeouts",
    "Worker",
    "WorkerError",
    "WorkerStopping",
    "run_worker",
]
