"""Throttled progress: at most one progress report per window, the latest details winning.

Temporal's model: a handler may call ``heartbeat`` as often as it likes; the first call goes out at
once, later calls inside the window only replace what is pending, and the pending details go out
when the window closes. The window is 80% of the task's heartbeat timeout, so a steady heartbeat
always lands in time (30 seconds when the task has none: its progress is then only advisory).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

DEFAULT_HEARTBEAT_WINDOW = 30.0
"""Seconds between progress reports of a task without a heartbeat timeout."""


def heartbeat_window(heartbeat_timeout_ms: int) -> float:
    """The throttle window, in seconds, of a task whose heartbeat timeout is ``heartbeat_timeout_ms``
    (0: none): 80% of the timeout, else ``DEFAULT_HEARTBEAT_WINDOW``."""
    if heartbeat_timeout_ms <= 0:
        return DEFAULT_HEARTBEAT_WINDOW
    return heartbeat_timeout_ms * 0.8 / 1000


class ProgressThrottle:
    """One attempt's progress reports. Runs on the event loop's thread only."""

    def __init__(self, send: Callable[[str], None], window: float) -> None:
        self._send = send
        self._window = window
        self._loop = asyncio.get_running_loop()
        self._next_allowed = 0.0
        self._pending: str | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._closed = False

    def record(self, details_json: str) -> None:
        """Sends now when the window allows, otherwise keeps the details for the window's end."""
        if self._closed:
            return
        now = self._loop.time()
        if self._timer is None and now >= self._next_allowed:
            self._emit(details_json, now)
            return
        self._pending = details_json
        if self._timer is None:
            self._timer = self._loop.call_at(self._next_allowed, self._window_closed)

    def _window_closed(self) -> None:
        self._timer = None
        if self._pending is not None:
            pending, self._pending = self._pending, None
            self._emit(pending, self._loop.time())

    def _emit(self, details_json: str, now: float) -> None:
        self._next_allowed = now + self._window
        self._send(details_json)

    def close(self, flush: bool) -> None:
        """Ends the attempt's progress (later calls do nothing). With ``flush`` (the attempt failed)
        pending details are sent now, before the failure, so the next attempt starts from them;
        without (it succeeded: the result supersedes them) they are dropped."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if flush and self._pending is not None and not self._closed:
            self._send(self._pending)
        self._pending = None
        self._closed = True
