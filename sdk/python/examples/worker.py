"""A worker and a client in one program: registers handlers, submits tasks, prints what happens.

With a Taskstream running (gRPC on 127.0.0.1:50051 by default):

    python examples/worker.py [host:port]
"""

from __future__ import annotations

import asyncio
import logging
import sys
from typing import Any

from taskstream import Client, NonRetryableError, RetryPolicy, TaskContext, Worker

TERMINAL = {"SUCCEEDED", "DEAD_LETTERED", "CANCELLED"}


async def resize(payload: Any, ctx: TaskContext) -> Any:
    """An async handler: reports progress, and gives up for good on input it can never handle."""
    if not isinstance(payload, dict) or "width" not in payload:
        raise NonRetryableError("payload needs a width")  # dead-letters at once
    for step in range(3):
        ctx.heartbeat({"step": step})  # throttled; the next attempt sees the latest as ctx.last_details
        await asyncio.sleep(0.1)  # cancellation (cancel, deadline, shutdown) arrives here
    return {"width": payload["width"] // 2, "attempt": ctx.attempt}


def checksum(payload: Any, ctx: TaskContext) -> Any:
    """A plain function runs in a thread; it polls ctx.is_cancelled() (or calls ctx.heartbeat())."""
    return sum(ord(c) for c in str(payload))


async def wait_until_done(client: Client, task_id: str) -> Any:
    while True:
        task = await client.get(task_id)
        if task.state in TERMINAL:
            return task
        await asyncio.sleep(0.05)


async def main(address: str) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    worker = Worker(
        addresses=[address], handlers={"resize": resize, "checksum": checksum}, slots=4, name="example"
    )
    await worker.start()  # returns once registered with the leading dispatcher
    print("registered as", worker.worker_id)

    async with Client(address) as client:
        good = await client.submit("resize", {"width": 640}, priority=7, retry=RetryPolicy(max_attempts=3))
        bad = await client.submit("resize", {"height": 1})
        summed = await client.submit("checksum", "hello")
        for task_id in (good.id, bad.id, summed.id):
            task = await wait_until_done(client, task_id)
            print(task.type, task.state, task.result, task.last_error)
        print([event.type for event in await client.history(good.id)])

    await worker.stop(grace=5)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1:50051"))
