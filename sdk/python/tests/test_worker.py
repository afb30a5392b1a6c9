"""The worker against a fake dispatcher: registration, outcomes, slots, batching."""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

import grpc
import pytest

from taskstream import NonRetryableError, TaskContext, WorkerError
from taskstream._proto.v1 import workers_pb2 as pb
from taskstream._version import SDK_NAME
from tests.conftest import Harness, echo


async def test_registers_its_types_labels_and_slots(harness: Harness) -> None:
    fake = await harness.fake()
    worker = harness.worker(
        addresses=[fake.address],
        handlers={"echo": echo, "resize": echo},
        slots=3,
        name="w1",
        labels={"gpu": "a100"},
        api_key="k-123",
    )
    await worker.start()
    register = fake.registers[0]
    assert sorted(register.types) == ["echo", "resize"]
    assert dict(register.labels) == {"gpu": "a100"}
    assert register.slots == 3
    assert register.name == "w1"
    assert register.sdk == SDK_NAME and SDK_NAME.startswith("python/")
    assert register.accepts_batches
    assert register.worker_id == "" and register.resume_token == ""
    assert worker.worker_id == "w-1"
    stream = await fake.stream()
    assert stream.metadata["authorization"] == "Bearer k-123"


async def test_reports_a_returned_value_as_completed(harness: Harness) -> None:
    fake = await harness.fake(accepts_batches=False)
    seen: dict[str, Any] = {}

    async def handler(payload: Any, ctx: TaskContext) -> Any:
        seen.update(
            task_id=ctx.task_id,
            attempt=ctx.attempt,
            max_attempts=ctx.max_attempts,
            key=ctx.idempotency_key,
            priority=ctx.priority,
            metadata=dict(ctx.metadata),
            deadline=ctx.deadline,
            last=ctx.last_details,
            worker_id=ctx.worker_id,
            type=ctx.task_type,
        )
        return {"got": payload}

    worker = harness.worker(addresses=[fake.address], handlers={"echo": handler})
    await worker.start()
    stream = await fake.stream()
    stream.assign(
        "t1",
        "echo",
        attempt=2,
        payload_json='{"a":1}',
        idempotency_key="k",
        priority=7,
        metadata={"m": "v"},
        last_details_json='{"step":3}',
        max_attempts=4,
    )
    started = await stream.next("started")
    assert (started.task_id, started.attempt) == ("t1", 2)
    completed = await stream.next("completed")
    assert (completed.task_id, completed.attempt) == ("t1", 2)
    assert json.loads(completed.result_json) == {"got": {"a": 1}}
    assert seen == {
        "task_id": "t1",
        "attempt": 2,
        "max_attempts": 4,
        "key": "k",
        "priority": 7,
        "metadata": {"m": "v"},
        "deadline": None,
        "last": {"step": 3},
        "worker_id": "w-1",
        "type": "echo",
    }
    assert stream.kinds().index("started") < stream.kinds().index("completed")


async def test_runs_synchronous_handlers_in_a_thread(harness: Harness) -> None:
    fake = await harness.fake()
    loop_thread = threading.get_ident()

    def handler(payload: Any, ctx: TaskContext) -> Any:
        ctx.heartbeat({"from": "thread"})
        return {"same_thread": threading.get_ident() == loop_thread}

    worker = harness.worker(addresses=[fake.address], handlers={"sync": handler})
    await worker.start()
    stream = await fake.stream()
    stream.assign("t1", "sync")
    completed = await stream.next("completed")
    assert json.loads(completed.result_json) == {"same_thread": False}
    progress = await stream.next("progress")
    assert json.loads(progress.details_json) == {"from": "thread"}


class QuotaError(NonRetryableError):
    pass


class Permanent(Exception):
    non_retryable = True


@pytest.mark.parametrize(
    ("error", "error_type", "message", "non_retryable"),
    [
        (ValueError("bad value"), "ValueError", "bad value", False),
        (QuotaError("over quota"), "QuotaError", "over quota", True),
        (Permanent("nope"), "Permanent", "nope", True),
        (RuntimeError(), "RuntimeError", "RuntimeError", False),
    ],
)
async def test_reports_a_raised_exception_as_failed(
    harness: Harness, error: Exception, error_type: str, message: str, non_retryable: bool
) -> None:
    fake = await harness.fake()

    async def handler(payload: Any, ctx: TaskContext) -> Any:
        raise error

    await harness.worker(addresses=[fake.address], handlers={"boom": handler}).start()
    stream = await fake.stream()
    stream.assign("t1", "boom")
    failed = await stream.next("failed")
    assert (failed.error_type, failed.message, failed.non_retryable, failed.cancelled) == (
        error_type,
        message,
        non_retryable,
        False,
    )


async def test_fails_bad_payloads_results_and_types_without_retry(harness: Harness) -> None:
    fake = await harness.fake()
    calls: list[str] = []

    async def handler(payload: Any, ctx: TaskContext) -> Any:
        calls.append(ctx.task_id)
        return {"not json": {1, 2}} if payload == "set" else float("nan")

    await harness.worker(addresses=[fake.address], handlers={"h": handler}).start()
    stream = await fake.stream()
    stream.assign("bad-payload", "h", payload_json="{not json")
    failed = await stream.next("failed")
    assert (failed.task_id, failed.error_type, failed.non_retryable) == (
        "bad-payload",
        "INVALID_PAYLOAD",
        True,
    )
    stream.assign("set", "h", payload_json='"set"')
    failed = await stream.next("failed")
    assert (failed.task_id, failed.error_type, failed.non_retryable) == ("set", "INVALID_RESULT", True)
    stream.assign("nan", "h", payload_json='"nan"')
    failed = await stream.next("failed")
    assert (failed.task_id, failed.error_type) == ("nan", "INVALID_RESULT")
    stream.assign("unknown", "nobody")
    failed = await stream.next("failed")
    assert (failed.task_id, failed.error_type, failed.non_retryable) == (
        "unknown",
        "UNKNOWN_TASK_TYPE",
        False,
    )
    assert calls == ["set", "nan"]


async def test_fails_an_assignment_beyond_its_slots(harness: Harness) -> None:
    fake = await harness.fake()
    release = asyncio.Event()

    async def hold(payload: Any, ctx: TaskContext) -> Any:
        await release.wait()
        return ctx.task_id

    worker = harness.worker(addresses=[fake.address], handlers={"hold": hold}, slots=1)
    await worker.start()
    stream = await fake.stream()
    stream.assign("t1", "hold")
    stream.assign("t2", "hold")
    failed = await stream.next("failed")
    assert (failed.task_id, failed.error_type) == ("t2", "NO_SLOT")
    assert worker.active_count == 1
    release.set()
    completed = await stream.next("completed")
    assert completed.task_id == "t1"


async def test_fails_results_larger_than_the_dispatcher_accepts(harness: Harness) -> None:
    fake = await harness.fake(max_result_bytes=16)

    async def large(payload: Any, ctx: TaskContext) -> Any:
        return "x" * payload

    await harness.worker(addresses=[fake.address], handlers={"large": large}).start()
    stream = await fake.stream()
    stream.assign("big", "large", payload_json="100")
    failed = await stream.next("failed")
    assert (failed.task_id, failed.error_type, failed.non_retryable) == ("big", "RESULT_TOO_LARGE", True)
    assert "102 bytes" in failed.message
    stream.assign("small", "large", payload_json="3")
    completed = await stream.next("completed")
    assert completed.result_json == '"xxx"'
    assert not any(m.WhichOneof("msg") == "completed" and m.completed.task_id == "big" for m in stream.log)


async def test_sends_reports_of_one_turn_as_one_batch_without_implied_starts(harness: Harness) -> None:
    fake = await harness.fake()
    await harness.worker(addresses=[fake.address], handlers={"echo": echo}).start()
    stream = await fake.stream()
    batch = [
        pb.DispatcherMessage(
            assignment=pb.Assignment(task_id=f"t{i}", attempt=1, type="echo", payload_json=str(i))
        )
        for i in range(3)
    ]
    stream.send(pb.DispatcherMessage(batch=pb.DispatcherBatch(messages=batch)))
    for _ in range(3):
        await stream.next("completed")
    batches = [m for m in stream.wire if m.WhichOneof("msg") == "batch"]
    assert batches, "the three results went one by one"
    assert sum(len(b.batch.messages) for b in batches) == 3
    assert "started" not in stream.kinds()


async def test_sends_starts_one_by_one_to_a_dispatcher_without_batches(harness: Harness) -> None:
    fake = await harness.fake(accepts_batches=False)
    await harness.worker(addresses=[fake.address], handlers={"echo": echo}).start()
    stream = await fake.stream()
    stream.assign("t1", "echo")
    stream.assign("t2", "echo")
    await stream.next("completed")
    await stream.next("completed")
    assert stream.kinds().count("started") == 2
    assert not any(m.WhichOneof("msg") == "batch" for m in stream.wire)


async def test_ignores_a_duplicate_assignment(harness: Harness) -> None:
    fake = await harness.fake(auto_ack=False)
    runs: list[str] = []

    async def handler(payload: Any, ctx: TaskContext) -> Any:
        runs.append(ctx.task_id)
        return None

    await harness.worker(addresses=[fake.address], handlers={"h": handler}).start()
    stream = await fake.stream()
    stream.assign("t1", "h")
    await stream.next("completed")
    stream.assign("t1", "h")  # its result is not acknowledged yet: the worker still holds it
    await asyncio.sleep(0.1)
    assert runs == ["t1"]


async def test_a_refused_registration_is_fatal(harness: Harness) -> None:
    fake = await harness.fake(
        refuse="register.slots: must be 1 to 1000", refuse_code=grpc.StatusCode.INVALID_ARGUMENT
    )
    worker = harness.worker(addresses=[fake.address], handlers={"echo": echo})
    with pytest.raises(WorkerError, match="INVALID_ARGUMENT"):
        await asyncio.wait_for(worker.run(), 5)
    assert len(fake.registers) == 1


def test_rejects_bad_options() -> None:
    from taskstream import Worker

    with pytest.raises(ValueError, match="at least one handler"):
        Worker(addresses=["127.0.0.1:1"], handlers={})
    with pytest.raises(ValueError, match="slots"):
        Worker(addresses=["127.0.0.1:1"], handlers={"a": echo}, slots=0)
    with pytest.raises(ValueError, match="host:port"):
        Worker(addresses=[], handlers={"a": echo})
    with pytest.raises(TypeError, match="not callable"):
        Worker(addresses=["127.0.0.1:1"], handlers={"a": 3})  # type: ignore[dict-item]
    with pytest.raises(ValueError, match="api_key"):
        Worker(addresses=["127.0.0.1:1"], handlers={"a": echo}, api_key="a b")
