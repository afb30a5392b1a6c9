"""Reconnection delays: exponential backoff with "equal jitter".

Each delay is half the exponential step plus a random half, so a fleet of workers that lost the same
leader does not reconnect in lockstep, yet no delay collapses to zero.
"""

from __future__ import annotations

import random as _random
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class BackoffPolicy:
    """Delays between reconnection tries: ``initial`` seconds doubling up to ``maximum``."""

    initial: float = 0.1
    maximum: float = 5.0

    def __post_init__(self) -> None:
        if not self.initial > 0:
            raise ValueError(f"backoff initial must be positive, got {self.initial!r}")
        if not self.maximum >= self.initial:
            raise ValueError(f"backoff maximum must be at least initial, got {self.maximum!r}")


DEFAULT_BACKOFF = BackoffPolicy()
"""100 ms doubling to 5 s."""


class Backoff:
    """The delay sequence of one connection; ``reset()`` after a success."""

    def __init__(
        self, policy: BackoffPolicy = DEFAULT_BACKOFF, random: Callable[[], float] = _random.random
    ) -> None:
        self._policy = policy
        self._random = random
        self._failures = 0

    def next(self) -> float:
        """The delay in seconds before the next try; each call doubles the step up to the cap."""
        step = min(self._policy.maximum, self._policy.initial * 2**self._failures)
        self._failures = min(self._failures + 1, 30)
        return float(step / 2 + self._random() * step / 2)

    def reset(self) -> None:
        """Back to the first step."""
        self._failures = 0
