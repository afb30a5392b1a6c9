"""Against a real Taskstream: set TASKSTREAM_TEST_GRPC_ADDRESS (host:port of its gRPC listener,
serving the api and dispatcher roles) and run ``pytest -m integration``."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from taskstream import Client, NonRetryableError, RetryPolicy, TaskContext, TaskInfo, Worker

ADDRESS = os.environ.get("TASKSTREAM_TEST_GRPC_ADDRESS", "")

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not ADDRESS, reason="TASKSTREAM_TEST_GRPC_ADDRESS is not set"),
]

TERMINAL = {"SUCCEEDED", "DEAD_LETTERED", "CANCELLED"}


async def settled(client: Client, task_id: str, timeout: float = 20) -> TaskInfo:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        task = await client.get(task_id)
        if task.state in TERMINAL:
            return task
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"task {task_id} still {task.state} after {timeout} s")
        await asyncio.sleep(0.05)


@pytest.fixture
def prefix() -> str:
    return f"py-it-{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def client() -> AsyncIterator[Client]:
    async with Client(ADDRESS) as c:
        yield c


async def test_runs_retries_and_dead_letters_tasks(prefix: str, client: Client) -> None:
    cancel_started = asyncio.Event()

    async def flaky(payload: Any, ctx: TaskContext) -> Any:
        if ctx.attempt < 2:
            ctx.heartbeat({"tried": ctx.attempt})
            await asyncio.sleep(0.2)
            raise RuntimeError("first attempt fails")
        return {"last": ctx.last_details, "attempt": ctx.attempt}

    async def fatal(payload: Any, ctx: TaskContext) -> Any:
        raise NonRetryableError("never")

    async def wait(payload: Any, ctx: TaskContext) -> Any:
        cancel_started.set()
        await asyncio.Event().wait()

    worker = Worker(
        addresses=[ADDRESS],
        handlers={f"{prefix}.flaky": flaky, f"{prefix}.fatal": fatal, f"{prefix}.wait": wait},
    )
    await worker.start()
    try:
        retry = RetryPolicy(max_attempts=3, initial_backoff_ms=10)
        flaky_id = (await client.submit(f"{prefix}.flaky", {"n": 1}, retry=retry)).id
        fatal_id = (await client.submit(f"{prefix}.fatal", retry=retry)).id
        wait_id = (await client.submit(f"{prefix}.wait")).id
        done = await settled(client, flaky_id)
        assert (done.state, done.result) == ("SUCCEEDED", {"last": {"tried": 1}, "attempt": 2})
        dead = await settled(client, fatal_id)
        assert dead.state == "DEAD_LETTERED" and dead.attempt == 1
        assert dead.last_error is not None and dead.last_error.type == "NonRetryableError"
        await asyncio.wait_for(cancel_started.wait(), 10)
        await client.cancel(wait_id, reason="integration test")
        assert (await settled(client, wait_id)).state == "CANCELLED"
        types = [e.type for e in await client.history(flaky_id)]
        assert (
            types.count("TaskStarted") == 2
            and "TaskProgressRecorded" in types
            and types[-1] == "TaskSucceeded"
        )
        first = (await client.submit(f"{prefix}.flaky", idempotency_key=prefix)).id
        again = await client.submit(f"{prefix}.flaky", idempotency_key=prefix)
        assert again.deduplicated and again.id == first
    finally:
        await worker.stop(grace=5)
