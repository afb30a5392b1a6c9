"""The reports the dispatcher has not confirmed.

A completed or failed report is kept until its ack arrives and re-sent after every reconnect, so a
result survives a stream that breaks between completion and ack (the dispatcher deduplicates a
report it already recorded). Started and progress reports are not acknowledged; only those that
could not be written at all (while disconnected) are kept, and of progress only each attempt's latest.
"""

from __future__ import annotations

import asyncio

from taskstream._proto.v1.workers_pb2 import AttemptRef, WorkerMessage

AttemptKey = tuple[str, int]


def report_key(message: WorkerMessage) -> AttemptKey:
    """The attempt a started/progress/completed/failed message is about."""
    kind = message.WhichOneof("msg")
    if kind not in ("started", "progress", "completed", "failed"):
        raise ValueError(f"not an attempt report: {kind}")
    report = getattr(message, kind)
    return (report.task_id, report.attempt)


class ReportBuffer:
    """Results awaiting an ack, and started/progress reports that could not be written."""

    def __init__(self) -> None:
        self._finals: dict[AttemptKey, WorkerMessage] = {}
        self._transient: dict[tuple[str, int, str], WorkerMessage] = {}
        self._empty = asyncio.Event()
        self._empty.set()

    def keep(self, report: WorkerMessage) -> None:
        """Keeps a completed or failed report until ``acknowledge``."""
        if report.WhichOneof("msg") not in ("completed", "failed"):
            raise ValueError("only completed and failed reports are kept until acknowledged")
        self._finals[report_key(report)] = report
        self._empty.clear()

    def defer(self, report: WorkerMessage) -> None:
        """Keeps a started or progress report that could not be written, for the next stream."""
        kind = report.WhichOneof("msg")
        if kind not in ("started", "progress"):
            raise ValueError("only started and progress reports are deferred")
        task_id, attempt = report_key(report)
        self._transient[(task_id, attempt, kind)] = report

    def acknowledge(self, task_id: str, attempt: int) -> bool:
        """Forgets an acknowledged result; False when none was kept (a duplicate ack)."""
        removed = self._finals.pop((task_id, attempt), None) is not None
        if not self._finals:
            self._empty.set()
        return removed

    def drain(self) -> list[WorkerMessage]:
        """Everything to send on a fresh stream, in order: deferred started/progress reports first
        (each attempt's start before its result), then every unacknowledged result. Deferred reports
        are handed over once; results stay until acknowledged."""
        messages = [*self._transient.values(), *self._finals.values()]
        self._transient.clear()
        return messages

    def holds(self, task_id: str, attempt: int) -> bool:
        """Whether a result of this attempt awaits an ack."""
        return (task_id, attempt) in self._finals

    def unacknowledged(self) -> list[AttemptRef]:
        """Attempts whose result awaits an ack: the dispatcher still counts them as held."""
        return [AttemptRef(task_id=t, attempt=a) for t, a in self._finals]

    def __len__(self) -> int:
        return len(self._finals)

    async def wait_empty(self, timeout: float) -> bool:
        """True once every result is acknowledged, False after ``timeout`` seconds."""
        try:
            await asyncio.wait_for(self._empty.wait(), timeout if timeout > 0 else 0)
        except TimeoutError:
            return not self._finals
        return True
