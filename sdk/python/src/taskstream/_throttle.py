"""Throttled progress: at most one progress report per window, the latest details winning.

Temporal's model: a handler may call ``heartbeat`` as often as it likes; the first call of a window
goes out at once, later ones only replace what is pending, and the pending details go out when the
window closes. The window is 80% of the heartbeat interval, so progress never outpaces the
heartbeats the dispatcher expects, yet each window that saw a call reports its latest details.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable


class ProgressThrottle:
    """One attempt's progress reports. Runs on the event loop's thread only."""

    def __init__(self, send: Callable[[str], None], window: Callable[[], float]) -> None:
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
        self._next_allowed = now + self._window()
        self._send(details_json)

    def close(self, flush: bool) -> None:
        """Ends the attempt's progress: sends pending details first when ``flush`` (so the last
        details reach the dispatcher before the result), otherwise drops them."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if flush and self._pending is not None and not self._closed:
            self._send(self._pending)
        self._pending = None
        self._closed = True
