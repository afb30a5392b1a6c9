"""The Python conformance worker (tests/conformance/SPEC.md), configured by environment only.

Registers every behaviour as ``<prefix>.<behaviour>``, prints ``ready <worker id>`` (the only line
on stdout), logs each handler's start and end to the effects file, and on SIGTERM or SIGINT stops
gracefully with ``CONFORMANCE_GRACE_MS`` for running handlers, then exits 0.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sys
from typing import Any

from taskstream import TaskContext, Worker, WorkerError
from taskstream.conformance.behaviours import BEHAVIOURS, Behaviour
from taskstream.conformance.effects import Effects, outcome_of


class ConfigError(Exception):
    """An environment variable is missing or malformed."""


def required(name: str) -> str:
    value = os.environ.get(name, "")
    if not value:
        raise ConfigError(f"{name} must be set")
    return value


def positive_int(name: str, fallback: int) -> int:
    raw = os.environ.get(name, "")
    if not raw:
        return fallback
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise ConfigError(f"{name} must be a positive integer, got {raw!r}")
    return value


def labels() -> dict[str, str]:
    raw = os.environ.get("CONFORMANCE_LABELS", "") or "{}"
    try:
        value = json.loads(raw)
    except ValueError as error:
        raise ConfigError(f"CONFORMANCE_LABELS is not JSON: {error}") from error
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise ConfigError(f"CONFORMANCE_LABELS must be a JSON object of strings, got {raw}")
    return value


def handler_for(behaviour: str, body: Behaviour, effects: Effects, lang: str) -> Any:
    async def handler(payload: Any, ctx: TaskContext) -> Any:
        effects.start(behaviour, ctx)
        try:
            result = await body(payload if isinstance(payload, dict) else {}, ctx, lang)
        except (Exception, asyncio.CancelledError) as error:
            effects.end(ctx, outcome_of(ctx, error))
            raise
        effects.end(ctx, "completed")
        return result

    return handler


async def main() -> int:
    lang = os.environ.get("CONFORMANCE_LANG", "") or "python"
    prefix = required("CONFORMANCE_PREFIX")
    addresses = [a.strip() for a in required("TASKSTREAM_ADDRESSES").split(",") if a.strip()]
    grace = positive_int("CONFORMANCE_GRACE_MS", 10_000) / 1000
    effects = Effects(os.environ.get("CONFORMANCE_EFFECTS") or None, lang)
    worker = Worker(
        addresses=addresses,
        handlers={f"{prefix}.{b}": handler_for(b, body, effects, lang) for b, body in BEHAVIOURS.items()},
        slots=positive_int("CONFORMANCE_SLOTS", 4),
        name=os.environ.get("CONFORMANCE_NAME", "") or f"conformance-{lang}",
        labels=labels(),
        api_key=os.environ.get("TASKSTREAM_API_KEY") or None,
        logger=logging.getLogger("taskstream"),
    )
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, lambda: worker.stop(grace))
    run = loop.create_task(worker.run())
    try:
        await worker.start()
    except WorkerError:
        pass  # run() raises it below
    else:
        sys.stdout.write(f"ready {worker.worker_id}\n")
        sys.stdout.flush()
    try:
        await run
    finally:
        effects.close()
    return 0


def entry() -> None:
    # Stdout carries only the ready line; everything the SDK has to say goes to stderr.
    logging.basicConfig(
        stream=sys.stderr, level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    try:
        code = asyncio.run(main())
    except (ConfigError, WorkerError) as error:
        print(f"conformance worker failed: {error}", file=sys.stderr)
        code = 1
    sys.exit(code)


if __name__ == "__main__":
    entry()
