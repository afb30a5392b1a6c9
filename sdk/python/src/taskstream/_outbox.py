"""The worker's outgoing reports, written a few event-loop iterations after the first is queued.

Everything queued meanwhile is handed to ``write`` together, so under load one gRPC message (a
``WorkerBatch``) carries many reports. asyncio has no microtasks: a handler that returns at once
still takes a few loop iterations (its task, the attempt's task, the done callback) to produce
its result, so the flush waits ``FLUSH_HOPS`` iterations — microseconds — which lets the result
of a handler that finishes at once travel with its start. A ``started`` whose attempt's
result is in the same list may be left out: a dispatcher whose Registered says ``accepts_batches``
records the start implied by a result.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from taskstream._proto.v1.workers_pb2 import WorkerMessage
from taskstream._reports import AttemptKey, report_key

FLUSH_HOPS = 4
"""Event-loop iterations between the first queued report and the flush."""


def drop_redundant_starts(messages: Sequence[WorkerMessage]) -> list[WorkerMessage]:
    """Drops every ``started`` whose attempt's result is in the same list. A start is kept when a
    progress report of its attempt is in the list too, so the history never shows progress before
    the start. The order of what remains is kept."""
    finals: set[AttemptKey] = set()
    progressing: set[AttemptKey] = set()
    for message in messages:
        kind = message.WhichOneof("msg")
        if kind in ("completed", "failed"):
            finals.add(report_key(message))
        elif kind == "progress":
            progressing.add(report_key(message))
    if not finals:
        return list(messages)
    kept = []
    for message in messages:
        if message.WhichOneof("msg") == "started":
            key = report_key(message)
            if key in finals and key not in progressing:
                continue
        kept.append(message)
    return kept


class Outbox:
    """Queues reports and flushes them ``FLUSH_HOPS`` loop iterations after the first."""

    def __init__(self, write: Callable[[list[WorkerMessage]], None]) -> None:
        self._write = write
        self._queue: list[WorkerMessage] = []
        self._pending: asyncio.Handle | None = None
        self._hops = 0
        self.implied_starts = False
        """Whether the dispatcher records implied starts: only then are starts left out."""

    def __len__(self) -> int:
        return len(self._queue)

    def push(self, message: WorkerMessage) -> None:
        """Queues a message; the queue is flushed a few loop iterations later."""
        self._queue.append(message)
        if self._pending is None:
            self._hops = 0
            self._pending = asyncio.get_running_loop().call_soon(self._hop)

    def _hop(self) -> None:
        if self._hops < FLUSH_HOPS:
            self._hops += 1
            self._pending = asyncio.get_running_loop().call_soon(self._hop)
            return
        self._pending = None
        self.flush()

    def flush(self) -> None:
        """Writes what is queued now (e.g. when the stream ended, so nothing waits for it)."""
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None
        if not self._queue:
            return
        messages = drop_redundant_starts(self._queue) if self.implied_starts else self._queue
        self._queue = []
        self._write(messages)
