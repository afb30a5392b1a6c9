"""Cancellation, deadlines, throttled heartbeats and graceful shutdown."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from typing import Any

import pytest

from taskstream import DeadlineExceeded, NonRetryableError, TaskCancelled, TaskContext, WorkerStopping
from tests.conftest import Harness, echo
from tests.fake_dispatcher import wait_for


async def test_a_cancel_cancels_the_handler_and_reports_cancelled(harness: Harness) -> None:
    fake = await harness.fake()
    reasons: list[Any] = []

    async def wait_cancel(payload: Any, ctx: TaskContext) -> Any:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            reasons.append(ctx.cancel_reason)
            raise

    await harness.worker(addresses=[fake.address], handlers={"wait": wait_cancel}).start()
    stream = await fake.stream()
    stream.assign("t1", "wait")
    await stream.next("started")
    stream.cancel("t1", reason="user asked")
    failed = await stream.next("failed")
    assert (failed.error_type, failed.message, failed.cancelled, failed.non_retryable) == (
        "TaskCancelled",
        "cancelled: user asked",
        True,
        False,
    )
    assert isinstance(reasons[0], TaskCancelled) and reasons[0].reason == "user asked"


async def test_a_cancelled_handler_that_raises_its_own_error_still_reports_cancelled(
    harness: Harness,
) -> None:
    fake = await harness.fake()

    async def cleanup(payload: Any, ctx: TaskContext) -> Any:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            raise RuntimeError("rolled back") from None

    await harness.worker(addresses=[fake.address], handlers={"c": cleanup}).start()
    stream = await fake.stream()
    stream.assign("t1", "c")
    await stream.next("started")
    stream.cancel("t1")
    failed = await stream.next("failed")
    assert (failed.error_type, failed.message, failed.cancelled) == ("RuntimeError", "rolled back", True)


async def test_a_cancel_of_an_attempt_not_running_is_ignored(harness: Harness) -> None:
    fake = await harness.fake()
    await harness.worker(addresses=[fake.address], handlers={"echo": echo}).start()
    stream = await fake.stream()
    stream.cancel("nobody")
    stream.assign("t1", "echo")
    await stream.next("completed")


async def test_the_deadline_interrupts_the_handler_as_a_retryable_failure(harness: Harness) -> None:
    fake = await harness.fake()
    seen: list[Any] = []

    async def slow(payload: Any, ctx: TaskContext) -> Any:
        seen.append(ctx.deadline)
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            seen.append(ctx.cancel_reason)
            raise

    await harness.worker(addresses=[fake.address], handlers={"slow": slow}).start()
    stream = await fake.stream()
    deadline_ms = int(time.time() * 1000) + 200
    stream.assign("t1", "slow", deadline_unix_ms=deadline_ms)
    failed = await stream.next("failed")
    # The type the dispatcher records when its own deadline timer fires first.
    assert (failed.error_type, failed.cancelled, failed.non_retryable) == (
        "START_TO_CLOSE_TIMEOUT",
        False,
        False,
    )
    assert failed.message.startswith("deadline ")
    assert seen[0].timestamp() * 1000 == deadline_ms
    assert isinstance(seen[1], DeadlineExceeded)
    assert time.time() * 1000 >= deadline_ms


async def test_a_handler_stopped_by_its_deadline_is_a_start_to_close_timeout_whatever_it_raises(
    harness: Harness,
) -> None:
    fake = await harness.fake()

    async def own_error(payload: Any, ctx: TaskContext) -> Any:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            raise NonRetryableError("rolled back") from None

    def in_a_thread(payload: Any, ctx: TaskContext) -> Any:
        while not ctx.is_cancelled():
            time.sleep(0.01)
        raise RuntimeError("gave up")

    async def early(payload: Any, ctx: TaskContext) -> Any:
        raise ValueError("failed before its deadline")

    handlers = {"own": own_error, "thread": in_a_thread, "early": early}
    await harness.worker(addresses=[fake.address], handlers=handlers).start()
    stream = await fake.stream()
    soon = int(time.time() * 1000) + 100
    stream.assign("own", "own", deadline_unix_ms=soon)
    stream.assign("thread", "thread", deadline_unix_ms=soon)
    stream.assign("early", "early", deadline_unix_ms=soon + 3_600_000)
    failures = [await stream.next("failed") for _ in range(3)]
    got = {f.task_id: (f.error_type, f.message, f.non_retryable, f.cancelled) for f in failures}
    assert got == {
        "own": ("START_TO_CLOSE_TIMEOUT", "rolled back", False, False),
        "thread": ("START_TO_CLOSE_TIMEOUT", "gave up", False, False),
        "early": ("ValueError", "failed before its deadline", False, False),
    }


async def test_a_cancel_before_the_deadline_is_reported_as_cancelled(harness: Harness) -> None:
    fake = await harness.fake()

    async def slow_cleanup(payload: Any, ctx: TaskContext) -> Any:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            await asyncio.sleep(0.4)  # past the deadline
            raise

    await harness.worker(addresses=[fake.address], handlers={"c": slow_cleanup}).start()
    stream = await fake.stream()
    stream.assign("t1", "c", deadline_unix_ms=int(time.time() * 1000) + 300)
    await stream.next("started")
    stream.cancel("t1", reason="user asked")
    failed = await stream.next("failed")
    assert (failed.error_type, failed.message, failed.cancelled) == (
        "TaskCancelled",
        "cancelled: user asked",
        True,
    )


async def test_a_synchronous_handler_sees_the_cancel_through_its_context(harness: Harness) -> None:
    fake = await harness.fake()
    started = threading.Event()

    def poll(payload: Any, ctx: TaskContext) -> Any:
        started.set()
        while True:
            ctx.heartbeat({"alive": True})  # raises the cancel reason once cancelled
            time.sleep(0.01)

    await harness.worker(addresses=[fake.address], handlers={"poll": poll}).start()
    stream = await fake.stream()
    stream.assign("t1", "poll")
    await wait_for(started.is_set)
    stream.cancel("t1", reason="stop")
    failed = await stream.next("failed")
    assert (failed.error_type, failed.cancelled) == ("TaskCancelled", True)


async def test_heartbeats_are_throttled_to_80_percent_of_the_tasks_heartbeat_timeout(
    harness: Harness,
) -> None:
    fake = await harness.fake()  # heartbeats every 2 s
    loop = asyncio.get_running_loop()

    async def chatty(payload: Any, ctx: TaskContext) -> Any:
        for i in range(10):
            ctx.heartbeat({"beat": i})
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.5)  # past the window: sent at once
        ctx.heartbeat({"beat": "last"})
        return None

    await harness.worker(addresses=[fake.address], handlers={"chatty": chatty}).start()
    stream = await fake.stream()
    stream.assign("t1", "chatty", heartbeat_timeout_ms=250)  # window 200 ms
    first = await stream.next("progress")
    t_first = loop.time()
    second = await stream.next("progress")
    t_second = loop.time()
    assert json.loads(first.details_json) == {"beat": 0}
    assert json.loads(second.details_json) == {"beat": 9}, "the latest details of the window win"
    assert t_second - t_first >= 0.15
    third = await stream.next("progress")
    assert json.loads(third.details_json) == {"beat": "last"}
    await stream.next("completed")
    assert stream.kinds().count("progress") == 3


async def test_the_window_follows_the_heartbeat_timeout_not_the_interval(harness: Harness) -> None:
    fake = await harness.fake(heartbeat_interval_ms=20)
    loop = asyncio.get_running_loop()
    release = asyncio.Event()

    async def steps(payload: Any, ctx: TaskContext) -> Any:
        for i in range(3):
            ctx.heartbeat(i)
            await asyncio.sleep(0.1)
        await release.wait()

    await harness.worker(addresses=[fake.address], handlers={"steps": steps}).start()
    stream = await fake.stream()
    stream.assign("t1", "steps", heartbeat_timeout_ms=1000)  # window 800 ms
    first = await stream.next("progress")
    t_first = loop.time()
    second = await stream.next("progress")
    assert (first.details_json, second.details_json) == ("0", "2")
    assert 0.6 <= loop.time() - t_first <= 2
    release.set()
    await stream.next("completed")


async def test_a_task_without_heartbeat_timeout_reports_progress_at_most_every_30_s(
    harness: Harness,
) -> None:
    fake = await harness.fake(heartbeat_interval_ms=20)
    release = asyncio.Event()

    async def steps(payload: Any, ctx: TaskContext) -> Any:
        for i in range(3):
            ctx.heartbeat(i)
        await release.wait()
        return "done"

    await harness.worker(addresses=[fake.address], handlers={"steps": steps}).start()
    stream = await fake.stream()
    stream.assign("t1", "steps")
    assert (await stream.next("progress")).details_json == "0"
    await asyncio.sleep(0.3)
    release.set()
    await stream.next("completed")
    # The held-back 2 is dropped with the result: one progress report in all.
    assert [k for k in stream.kinds() if k != "heartbeat"] == ["started", "progress", "completed"]


async def test_the_heartbeat_throttle_option_only_shortens_the_window(harness: Harness) -> None:
    fake = await harness.fake()
    release = asyncio.Event()

    async def steps(payload: Any, ctx: TaskContext) -> Any:
        for i in range(3):
            ctx.heartbeat(i)
        await release.wait()

    worker = harness.worker(addresses=[fake.address], handlers={"steps": steps}, heartbeat_throttle=3600)
    await worker.start()
    stream = await fake.stream()
    stream.assign("t1", "steps", heartbeat_timeout_ms=250)  # the task's 200 ms window wins
    assert (await stream.next("progress")).details_json == "0"
    assert (await stream.next("progress", timeout=1)).details_json == "2"
    release.set()
    await stream.next("completed")


async def test_the_heartbeat_throttle_option_shortens_the_window(harness: Harness) -> None:
    fake = await harness.fake()

    async def handler(payload: Any, ctx: TaskContext) -> Any:
        for i in range(3):
            ctx.heartbeat({"beat": i})
            await asyncio.sleep(0.1)
        return None

    await harness.worker(addresses=[fake.address], handlers={"h": handler}, heartbeat_throttle=0.05).start()
    stream = await fake.stream()
    stream.assign("t1", "h", heartbeat_timeout_ms=10_000)  # an 8 s window, capped to 50 ms
    await stream.next("completed", timeout=1)
    details = [json.loads(m.progress.details_json) for m in stream.log if m.WhichOneof("msg") == "progress"]
    assert details == [{"beat": 0}, {"beat": 1}, {"beat": 2}]


async def test_the_last_throttled_details_go_out_before_a_failure_not_a_result(harness: Harness) -> None:
    fake = await harness.fake()

    async def fails(payload: Any, ctx: TaskContext) -> Any:
        ctx.heartbeat({"step": 1})
        ctx.heartbeat({"step": 2})
        raise ValueError("fails after step 2")

    async def completes(payload: Any, ctx: TaskContext) -> Any:
        ctx.heartbeat({"step": 1})
        ctx.heartbeat({"step": "dropped"})
        return "ok"

    handlers = {"fails": fails, "completes": completes}
    await harness.worker(addresses=[fake.address], handlers=handlers).start()
    stream = await fake.stream()
    stream.assign("f", "fails", heartbeat_timeout_ms=10_000)  # an 8 s window
    await stream.next("failed", timeout=1)
    details = [json.loads(m.progress.details_json) for m in stream.log if m.WhichOneof("msg") == "progress"]
    assert details == [{"step": 1}, {"step": 2}]
    kinds = stream.kinds()
    assert kinds.index("started") < kinds.index("progress") < kinds.index("failed")
    # A completion needs no details: the result supersedes them.
    stream.assign("c", "completes", heartbeat_timeout_ms=10_000)
    await stream.next("completed", timeout=1)
    sent = [m.progress.details_json for m in stream.log if m.WhichOneof("msg") == "progress"]
    assert sent[2:] == ['{"step":1}']


async def test_stop_lets_running_handlers_finish_and_refuses_new_work(harness: Harness) -> None:
    fake = await harness.fake()
    entered = asyncio.Event()

    async def slow(payload: Any, ctx: TaskContext) -> Any:
        entered.set()
        await asyncio.sleep(0.3)
        return "finished"

    worker = harness.worker(addresses=[fake.address], handlers={"slow": slow})
    run = asyncio.ensure_future(worker.run())
    stream = await fake.stream()
    stream.assign("t1", "slow")
    await entered.wait()
    stopping = worker.stop(grace=5)
    stream.assign("t2", "slow")
    refused = await stream.next("failed")
    assert (refused.task_id, refused.error_type) == ("t2", "WORKER_STOPPING")
    completed = await stream.next("completed")
    assert json.loads(completed.result_json) == "finished"
    await asyncio.wait_for(stopping, 3)
    await asyncio.wait_for(run, 1)
    await wait_for(lambda: stream.ended, what="the stream's end")


async def test_stop_interrupts_handlers_that_outlive_the_grace(harness: Harness) -> None:
    fake = await harness.fake()
    reasons: list[Any] = []

    async def forever(payload: Any, ctx: TaskContext) -> Any:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            reasons.append(ctx.cancel_reason)
            raise

    def stubborn(payload: Any, ctx: TaskContext) -> Any:
        time.sleep(0.5)  # a thread ignores its interruption

    worker = harness.worker(addresses=[fake.address], handlers={"forever": forever, "stubborn": stubborn})
    await worker.start()
    stream = await fake.stream()
    stream.assign("t1", "forever")
    stream.assign("t2", "stubborn")
    await wait_for(lambda: worker.active_count == 2)
    await asyncio.wait_for(worker.stop(grace=0.1, settle=0.1), 3)
    failures = {f.task_id: f for f in [m.failed for m in stream.log if m.WhichOneof("msg") == "failed"]}
    assert (failures["t1"].error_type, failures["t1"].cancelled) == ("WorkerStopping", False)
    assert failures["t2"].error_type == "WORKER_STOPPING"
    assert isinstance(reasons[0], WorkerStopping)


async def test_a_handler_given_up_on_at_stop_has_its_held_back_details_sent_first(
    harness: Harness,
) -> None:
    fake = await harness.fake()
    beating = threading.Event()

    def stubborn(payload: Any, ctx: TaskContext) -> Any:
        ctx.heartbeat("first")
        ctx.heartbeat("latest")
        beating.set()
        time.sleep(0.5)  # a thread ignores its interruption

    worker = harness.worker(addresses=[fake.address], handlers={"stubborn": stubborn})
    await worker.start()
    stream = await fake.stream()
    stream.assign("s", "stubborn", heartbeat_timeout_ms=60_000)
    await wait_for(beating.is_set)
    await asyncio.sleep(0.05)  # the thread's heartbeats reach the loop
    await asyncio.wait_for(worker.stop(grace=0.05, settle=0.05), 3)
    reports = []
    for m in stream.log:
        if m.WhichOneof("msg") == "progress":
            reports.append(f"progress {m.progress.details_json}")
        elif m.WhichOneof("msg") == "failed":
            reports.append(f"failed {m.failed.error_type}")
    assert reports == ['progress "first"', 'progress "latest"', "failed WORKER_STOPPING"]


async def test_stop_before_start_and_twice_is_harmless(harness: Harness) -> None:
    fake = await harness.fake()
    worker = harness.worker(addresses=[fake.address], handlers={"echo": echo})
    first = worker.stop()
    assert worker.stop() is first
    await first
    await asyncio.wait_for(worker.run(), 1)
    with pytest.raises(RuntimeError, match="stopped"):
        await worker.start()
    assert fake.registers == []
