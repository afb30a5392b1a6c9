"""Fixtures: fake dispatchers and workers that are shut down after each test."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from taskstream import Worker
from tests.fake_dispatcher import FakeDispatcher


class Harness:
    """Makes fakes and workers, and stops them all after the test (with no grace, so a hung
    handler cannot hang the suite)."""

    def __init__(self) -> None:
        self.fakes: list[FakeDispatcher] = []
        self.workers: list[Worker] = []

    async def fake(self, **options: Any) -> FakeDispatcher:
        fake = await FakeDispatcher.start(**options)
        self.fakes.append(fake)
        return fake

    def worker(self, **options: Any) -> Worker:
        options.setdefault("logger", logging.getLogger("taskstream.test"))
        worker = Worker(**options)
        self.workers.append(worker)
        return worker

    async def close(self) -> None:
        for worker in self.workers:
            await worker.stop(0, settle=0, flush=0)
        for fake in self.fakes:
            await fake.stop()


@pytest.fixture
async def harness() -> AsyncIterator[Harness]:
    h = Harness()
    try:
        yield h
    finally:
        await h.close()


async def echo(payload: Any, ctx: Any) -> Any:
    """A handler that answers its payload."""
    return payload


Handler = Callable[[Any, Any], Any]
