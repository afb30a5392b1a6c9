"""The attempts whose handlers run in this worker now, by task id and attempt number."""

from __future__ import annotations

import asyncio

from taskstream._attempt import AttemptRun
from taskstream._proto.v1.workers_pb2 import AttemptRef
from taskstream._reports import AttemptKey
from taskstream.errors import AttemptInterrupted


class RunningAttempts:
    """Running attempts; ``settle`` waits for them to end."""

    def __init__(self) -> None:
        self._runs: dict[AttemptKey, AttemptRun] = {}

    def __len__(self) -> int:
        return len(self._runs)

    def get(self, task_id: str, attempt: int) -> AttemptRun | None:
        return self._runs.get((task_id, attempt))

    def add(self, run: AttemptRun) -> None:
        self._runs[(run.task_id, run.attempt)] = run

    def remove(self, run: AttemptRun) -> bool:
        """Removes ``run``; False when it is no longer there (it was given up on meanwhile)."""
        key = (run.task_id, run.attempt)
        if self._runs.get(key) is not run:
            return False
        del self._runs[key]
        return True

    def take_all(self) -> list[AttemptRun]:
        """Removes and returns every run."""
        runs = list(self._runs.values())
        self._runs.clear()
        return runs

    def refs(self) -> list[AttemptRef]:
        return [AttemptRef(task_id=t, attempt=a) for t, a in self._runs]

    def interrupt_all(self, reason: AttemptInterrupted) -> None:
        for run in self._runs.values():
            run.interrupt(reason)

    async def settle(self, timeout: float) -> bool:
        """True once no handler runs (including ones started meanwhile), False after ``timeout``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(timeout, 0)
        while self._runs:
            left = deadline - loop.time()
            if left <= 0:
                return False
            outcomes = [run.done for run in self._runs.values() if run.done is not None]
            if not outcomes:
                await asyncio.sleep(min(left, 0.01))
                continue
            await asyncio.wait(outcomes, timeout=left)
            # The worker removes a finished run in the outcome's callback: let it run.
            await asyncio.sleep(0)
        return True
