"""Stream failures: reconnecting with the worker's identity, re-sending results, several addresses."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import grpc

from taskstream import BackoffPolicy, TaskContext
from tests.conftest import Harness, echo
from tests.fake_dispatcher import wait_for

FAST = BackoffPolicy(initial=0.02, maximum=0.1)


async def test_resends_unacknowledged_results_and_lists_held_attempts(harness: Harness) -> None:
    fake = await harness.fake(auto_ack=False)
    release = asyncio.Event()

    async def hold(payload: Any, ctx: TaskContext) -> Any:
        await release.wait()
        return {"done": ctx.task_id}

    worker = harness.worker(addresses=[fake.address], handlers={"echo": echo, "hold": hold}, backoff=FAST)
    await worker.start()
    first = await fake.stream(0)
    first.assign("done", "echo", payload_json='"r"')
    first.assign("running", "hold")
    completed = await first.next("completed")
    assert completed.task_id == "done"
    first.close(grpc.StatusCode.UNAVAILABLE, "connection reset")

    second = await fake.stream(1)
    register = fake.registers[1]
    assert register.worker_id == "w-1"
    assert register.resume_token == "token-w-1"
    assert sorted((a.task_id, a.attempt) for a in register.active) == [("done", 1), ("running", 1)]
    resent = await second.next("completed")
    assert (resent.task_id, resent.result_json) == ("done", '"r"')
    second.ack("done")
    await wait_for(lambda: fake.registers and len(worker._reports) == 0, what="the ack")
    # Handlers keep running across a reconnect; their result goes on the new stream.
    release.set()
    completed = await second.next("completed")
    assert completed.task_id == "running"
    assert worker.worker_id == "w-1"


async def test_sends_progress_written_while_disconnected_after_reconnecting(harness: Harness) -> None:
    fake = await harness.fake(accepts_batches=False)
    disconnected = asyncio.Event()
    go = asyncio.Event()

    async def handler(payload: Any, ctx: TaskContext) -> Any:
        await disconnected.wait()
        ctx.heartbeat({"step": 1})
        await go.wait()
        return None

    worker = harness.worker(
        addresses=[fake.address], handlers={"h": handler}, backoff=BackoffPolicy(0.3, 0.3)
    )
    await worker.start()
    first = await fake.stream(0)
    first.assign("t1", "h")
    await first.next("started")
    first.close()
    await wait_for(lambda: not worker._connection.connected, what="the disconnect")
    disconnected.set()  # the handler heartbeats while the worker waits out its backoff
    second = await fake.stream(1, timeout=5)
    progress = await second.next("progress")
    assert progress.task_id == "t1"
    assert json.loads(progress.details_json) == {"step": 1}
    assert [(a.task_id, a.attempt) for a in fake.registers[1].active] == [("t1", 1)]
    go.set()
    await second.next("completed")


async def test_registers_afresh_when_the_resume_is_refused(harness: Harness) -> None:
    fake = await harness.fake()
    worker = harness.worker(
        addresses=[fake.address], handlers={"echo": echo}, backoff=BackoffPolicy(1.0, 1.0)
    )
    await worker.start()
    first = await fake.stream(0)
    fake.token_suffix = "-rotated"
    first.close()
    # Reconnect after the backoff; the resume is refused and the fresh register follows at once.
    await fake.stream(1, timeout=5)
    assert [r.worker_id for r in fake.registers] == ["", "w-1", ""]
    assert fake.registers[2].resume_token == ""
    await wait_for(lambda: worker.worker_id == "w-2", what="the fresh identity")


async def test_moves_to_the_next_address_while_refused_as_not_leader(harness: Harness) -> None:
    standby = await harness.fake(refuse="not leader")
    leader = await harness.fake()
    worker = harness.worker(
        addresses=[standby.address, leader.address], handlers={"echo": echo}, backoff=FAST
    )
    await worker.start()
    assert len(standby.registers) == 1
    assert len(leader.registers) == 1


async def test_skips_an_unreachable_address(harness: Harness) -> None:
    leader = await harness.fake()
    dead = await harness.fake()
    await dead.stop()
    worker = harness.worker(addresses=[dead.address, leader.address], handlers={"echo": echo}, backoff=FAST)
    await asyncio.wait_for(worker.start(), 5)
    assert worker.worker_id == "w-1"


async def test_retries_a_broken_registered_stream_at_the_same_address_first(harness: Harness) -> None:
    a = await harness.fake()
    b = await harness.fake()
    worker = harness.worker(addresses=[a.address, b.address], handlers={"echo": echo}, backoff=FAST)
    await worker.start()
    (await a.stream(0)).close(grpc.StatusCode.UNAVAILABLE, "connection reset")
    await a.stream(1)
    await wait_for(lambda: worker._connection.connected, what="the second registration")
    assert len(b.registers) == 0
    # Leadership lost: the next address.
    (await a.stream(1)).close(grpc.StatusCode.UNAVAILABLE, "not leader: lease lost")
    await b.stream(0)
    assert len(a.registers) == 2


async def test_heartbeats_list_running_and_unacknowledged_attempts(harness: Harness) -> None:
    fake = await harness.fake(auto_ack=False, heartbeat_interval_ms=50)
    release = asyncio.Event()

    async def hold(payload: Any, ctx: TaskContext) -> Any:
        await release.wait()

    worker = harness.worker(addresses=[fake.address], handlers={"hold": hold, "echo": echo})
    await worker.start()
    assert worker.heartbeat_interval == 0.05
    stream = await fake.stream()
    stream.assign("running", "hold")
    stream.assign("unacked", "echo")
    await stream.next("completed")
    stream.received.clear()
    heartbeat = await stream.next("heartbeat")
    assert sorted(a.task_id for a in heartbeat.active) == ["running", "unacked"]
    stream.ack("unacked")
    release.set()
    await stream.next("completed")
    stream.ack("running")
    await asyncio.sleep(0.06)
    stream.received.clear()
    heartbeat = await stream.next("heartbeat")
    assert list(heartbeat.active) == []


async def test_the_heartbeat_interval_option_overrides_the_dispatcher(harness: Harness) -> None:
    fake = await harness.fake(heartbeat_interval_ms=5000)
    worker = harness.worker(addresses=[fake.address], handlers={"echo": echo}, heartbeat_interval=0.03)
    await worker.start()
    stream = await fake.stream()
    await stream.next("heartbeat", timeout=1)
    await stream.next("heartbeat", timeout=1)
