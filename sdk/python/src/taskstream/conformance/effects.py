"""The effects log of SPEC.md: one JSON line when a handler starts and one when it ends.

Each line is one ``os.write`` on a descriptor opened in append mode, so lines of concurrent
handlers never interleave and the suite sees a line as soon as it is written (no buffering here).
"""

from __future__ import annotations

import json
import os
from typing import Any

from taskstream import DeadlineExceeded, TaskCancelled, TaskContext, WorkerStopping


def outcome_of(ctx: TaskContext, error: BaseException) -> str:
    """The outcome of a handler that raised ``error``: the interruption's reason names why it stopped."""
    reason = ctx.cancel_reason
    if isinstance(reason, TaskCancelled):
        return "cancelled"
    if isinstance(reason, DeadlineExceeded):
        return "deadline"
    if isinstance(reason, WorkerStopping):
        return "stopping"
    return "failed"


class Effects:
    """Appends effect lines to ``path``; does nothing when ``path`` is empty."""

    def __init__(self, path: str | None, lang: str) -> None:
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644) if path else None
        self._lang = lang

    def start(self, behaviour: str, ctx: TaskContext) -> None:
        self._write(
            {
                "event": "start",
                "lang": self._lang,
                "taskId": ctx.task_id,
                "attempt": ctx.attempt,
                "type": behaviour,
                "idempotencyKey": ctx.idempotency_key,
                "lastDetails": ctx.last_details,
                "deadlineMs": round(ctx.deadline.timestamp() * 1000) if ctx.deadline else None,
                "traceparent": ctx.traceparent,
                "workerId": ctx.worker_id,
            }
        )

    def end(self, ctx: TaskContext, outcome: str) -> None:
        self._write(
            {
                "event": "end",
                "lang": self._lang,
                "taskId": ctx.task_id,
                "attempt": ctx.attempt,
                "outcome": outcome,
            }
        )

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def _write(self, effect: dict[str, Any]) -> None:
        if self._fd is not None:
            os.write(self._fd, (json.dumps(effect, separators=(",", ":")) + "\n").encode())
