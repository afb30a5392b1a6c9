"""The behaviours of tests/conformance/SPEC.md, keyed by task type (after the prefix)."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable
from typing import Any, NoReturn

from taskstream import NonRetryableError, TaskContext


class ConformanceError(Exception):
    """The retryable failure of the ``fail`` and ``details`` behaviours."""


class ConformanceFatal(NonRetryableError):
    """The non-retryable failure of the ``fatal`` behaviour."""


Behaviour = Callable[[dict[str, Any], TaskContext, str], Awaitable[Any]]


def count(value: Any, fallback: int) -> int:
    """A number from the payload, or ``fallback`` when it is missing or not a finite number."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return fallback
    return int(value)


async def until_interrupted() -> NoReturn:
    """Waits until the handler's task is cancelled (cancel, deadline or shutdown): the SDK's own
    mechanism, never a poll of the server."""
    await asyncio.Event().wait()
    raise AssertionError("unreachable")


async def echo(payload: dict[str, Any], ctx: TaskContext, lang: str) -> Any:
    return {"echo": payload, "attempt": ctx.attempt, "lang": lang}


async def fail(payload: dict[str, Any], ctx: TaskContext, lang: str) -> Any:
    if ctx.attempt <= count(payload.get("times"), 1):
        raise ConformanceError(f"attempt {ctx.attempt} fails")
    return {"attempt": ctx.attempt}


async def fatal(payload: dict[str, Any], ctx: TaskContext, lang: str) -> Any:
    raise ConformanceFatal("fatal")


async def details(payload: dict[str, Any], ctx: TaskContext, lang: str) -> Any:
    if ctx.attempt >= 2:
        return {"lastDetails": ctx.last_details}
    ctx.heartbeat({"step": 1})
    await asyncio.sleep(0.3)
    raise ConformanceError(f"attempt {ctx.attempt} fails")


async def hang(payload: dict[str, Any], ctx: TaskContext, lang: str) -> Any:
    if ctx.attempt <= count(payload.get("hangAttempts"), 1):
        await until_interrupted()
    return {"attempt": ctx.attempt}


async def wait_cancel(payload: dict[str, Any], ctx: TaskContext, lang: str) -> Any:
    await until_interrupted()


async def deadline(payload: dict[str, Any], ctx: TaskContext, lang: str) -> Any:
    await until_interrupted()


async def slow(payload: dict[str, Any], ctx: TaskContext, lang: str) -> Any:
    ms = count(payload.get("ms"), 1000)
    await asyncio.sleep(ms / 1000)
    return {"slept": ms}


async def large(payload: dict[str, Any], ctx: TaskContext, lang: str) -> Any:
    return "x" * count(payload.get("bytes"), 0)


async def heartbeat(payload: dict[str, Any], ctx: TaskContext, lang: str) -> Any:
    beats = count(payload.get("beats"), 5)
    every_ms = count(payload.get("everyMs"), 50)
    for beat in range(1, beats + 1):
        if beat > 1:
            await asyncio.sleep(every_ms / 1000)
        ctx.heartbeat({"beat": beat})
    return {"beats": beats}


BEHAVIOURS: dict[str, Behaviour] = {
    "echo": echo,
    "fail": fail,
    "fatal": fatal,
    "details": details,
    "hang": hang,
    "wait-cancel": wait_cancel,
    "deadline": deadline,
    "slow": slow,
    "large": large,
    "heartbeat": heartbeat,
}
