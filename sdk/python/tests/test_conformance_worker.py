"""The conformance worker (python -m taskstream.conformance) as a child process against a fake
dispatcher: the ready line, the effects log, the behaviours and the graceful stop on SIGTERM."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Harness
from tests.fake_dispatcher import FakeDispatcher, FakeStream, wait_for

PREFIX = "conf"


class Child:
    def __init__(self, process: asyncio.subprocess.Process, effects: Path) -> None:
        self.process = process
        self.effects = effects

    def lines(self, task_id: str | None = None) -> list[dict[str, Any]]:
        if not self.effects.exists():
            return []
        effects = [json.loads(line) for line in self.effects.read_text().splitlines()]
        return [e for e in effects if task_id is None or e["taskId"] == task_id]

    async def effect(self, task_id: str, event: str) -> dict[str, Any]:
        return await wait_for(
            lambda: next((e for e in self.lines(task_id) if e["event"] == event), None),
            5,
            f"{event} of {task_id}",
        )


async def start_child(fake: FakeDispatcher, tmp_path: Path, **env: str) -> Child:
    effects = tmp_path / "effects.jsonl"
    environment = {
        **os.environ,
        "TASKSTREAM_ADDRESSES": fake.address,
        "CONFORMANCE_PREFIX": PREFIX,
        "CONFORMANCE_LANG": "python",
        "CONFORMANCE_EFFECTS": str(effects),
        "CONFORMANCE_LABELS": '{"lang":"python"}',
        **env,
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "taskstream.conformance",
        env=environment,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    return Child(process, effects)


@pytest.fixture
async def child(harness: Harness, tmp_path: Path) -> AsyncIterator[tuple[Child, FakeStream]]:
    fake = await harness.fake(accepts_batches=False)
    started = await start_child(fake, tmp_path, TASKSTREAM_API_KEY="conformance-key", CONFORMANCE_SLOTS="6")
    try:
        assert started.process.stdout is not None
        ready = await asyncio.wait_for(started.process.stdout.readline(), 10)
        assert ready == b"ready w-1\n"
        yield started, await fake.stream()
    finally:
        if started.process.returncode is None:
            started.process.kill()
            await started.process.wait()


async def test_registers_every_behaviour_with_its_configuration(
    child: tuple[Child, FakeStream], harness: Harness
) -> None:
    _, stream = child
    register = harness.fakes[0].registers[0]
    assert sorted(register.types) == sorted(
        f"{PREFIX}.{b}"
        for b in [
            "echo",
            "fail",
            "fatal",
            "details",
            "hang",
            "wait-cancel",
            "deadline",
            "slow",
            "large",
            "heartbeat",
        ]
    )
    assert (dict(register.labels), register.slots, register.name) == (
        {"lang": "python"},
        6,
        "conformance-python",
    )
    assert stream.metadata["authorization"] == "Bearer conformance-key"


async def test_behaviours_and_their_effects(child: tuple[Child, FakeStream]) -> None:
    worker, stream = child
    deadline_ms = int(time.time() * 1000) + 300
    stream.assign(
        "echo",
        f"{PREFIX}.echo",
        payload_json='{"a":1}',
        idempotency_key="k1",
        traceparent="00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    )
    stream.assign("fail", f"{PREFIX}.fail", attempt=2, payload_json='{"times":2}')
    stream.assign("fatal", f"{PREFIX}.fatal")
    stream.assign("details", f"{PREFIX}.details", attempt=2, last_details_json='{"step":1}')
    stream.assign("large", f"{PREFIX}.large", payload_json='{"bytes":5}')
    stream.assign("deadline", f"{PREFIX}.deadline", deadline_unix_ms=deadline_ms)
    results = {}
    for _ in range(3):
        completed = await stream.next("completed", timeout=5)
        results[completed.task_id] = json.loads(completed.result_json)
    assert results == {
        "echo": {"echo": {"a": 1}, "attempt": 1, "lang": "python"},
        "details": {"lastDetails": {"step": 1}},
        "large": "xxxxx",
    }
    failures = {}
    for _ in range(3):
        failed = await stream.next("failed", timeout=5)
        failures[failed.task_id] = (failed.error_type, failed.message, failed.non_retryable)
    assert failures == {
        "fail": ("ConformanceError", "attempt 2 fails", False),
        "fatal": ("ConformanceFatal", "fatal", True),
        # SPEC.md's deadline scenario: the report says START_TO_CLOSE_TIMEOUT, the end effect deadline.
        "deadline": ("START_TO_CLOSE_TIMEOUT", failures["deadline"][1], False),
    }
    start = await worker.effect("echo", "start")
    assert start == {
        "event": "start",
        "lang": "python",
        "taskId": "echo",
        "attempt": 1,
        "type": "echo",
        "idempotencyKey": "k1",
        "lastDetails": None,
        "deadlineMs": None,
        "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "workerId": "w-1",
    }
    assert (await worker.effect("details", "start"))["lastDetails"] == {"step": 1}
    assert (await worker.effect("deadline", "start"))["deadlineMs"] == deadline_ms
    outcomes = {t: (await worker.effect(t, "end"))["outcome"] for t in ["echo", "fail", "fatal", "deadline"]}
    assert outcomes == {"echo": "completed", "fail": "failed", "fatal": "failed", "deadline": "deadline"}


async def test_cancel_ends_the_handler_cancelled(child: tuple[Child, FakeStream]) -> None:
    worker, stream = child
    stream.assign("wait", f"{PREFIX}.wait-cancel")
    stream.assign("hang", f"{PREFIX}.hang")
    await worker.effect("wait", "start")
    await worker.effect("hang", "start")
    stream.cancel("wait")
    stream.cancel("hang", reason="HEARTBEAT_TIMEOUT")
    for _ in range(2):
        failed = await stream.next("failed", timeout=5)
        assert (failed.error_type, failed.cancelled) == ("TaskCancelled", True)
    assert (await worker.effect("wait", "end"))["outcome"] == "cancelled"
    assert (await worker.effect("hang", "end"))["outcome"] == "cancelled"


async def test_heartbeat_behaviour_reports_progress(child: tuple[Child, FakeStream]) -> None:
    _, stream = child
    # A heartbeat timeout of 50 ms: a 40 ms window, shorter than the 50 ms between beats.
    payload = '{"beats":3,"everyMs":50}'
    stream.assign("beats", f"{PREFIX}.heartbeat", payload_json=payload, heartbeat_timeout_ms=50)
    completed = await stream.next("completed", timeout=5)
    assert json.loads(completed.result_json) == {"beats": 3}
    details = [json.loads(m.progress.details_json) for m in stream.log if m.WhichOneof("msg") == "progress"]
    assert details == [{"beat": 1}, {"beat": 2}, {"beat": 3}]


async def test_sigterm_lets_the_running_handler_finish_then_exits_0(child: tuple[Child, FakeStream]) -> None:
    worker, stream = child
    stream.assign("slow", f"{PREFIX}.slow", payload_json='{"ms":500}')
    await worker.effect("slow", "start")
    worker.process.send_signal(signal.SIGTERM)
    await asyncio.sleep(0.1)
    stream.assign("late", f"{PREFIX}.echo")
    refused = await stream.next("failed", timeout=5)
    assert (refused.task_id, refused.error_type) == ("late", "WORKER_STOPPING")
    completed = await stream.next("completed", timeout=5)
    assert json.loads(completed.result_json) == {"slept": 500}
    assert await asyncio.wait_for(worker.process.wait(), 10) == 0
    assert worker.process.stdout is not None
    assert await worker.process.stdout.read() == b"", "stdout carries the ready line only"
    assert (await worker.effect("slow", "end"))["outcome"] == "completed"


async def test_sigterm_past_the_grace_interrupts_the_handler(harness: Harness, tmp_path: Path) -> None:
    fake = await harness.fake()
    worker = await start_child(fake, tmp_path, CONFORMANCE_GRACE_MS="100")
    try:
        stream = await fake.stream(timeout=10)
        stream.assign("slow", f"{PREFIX}.slow", payload_json='{"ms":30000}')
        await worker.effect("slow", "start")
        worker.process.send_signal(signal.SIGTERM)
        failed = await stream.next("failed", timeout=5)
        assert failed.error_type == "WorkerStopping"
        assert await asyncio.wait_for(worker.process.wait(), 10) == 0
        assert (await worker.effect("slow", "end"))["outcome"] == "stopping"
    finally:
        if worker.process.returncode is None:
            worker.process.kill()
            await worker.process.wait()


async def test_bad_configuration_exits_1_with_a_message(harness: Harness, tmp_path: Path) -> None:
    fake = await harness.fake()
    worker = await start_child(fake, tmp_path, CONFORMANCE_SLOTS="zero")
    assert await asyncio.wait_for(worker.process.wait(), 10) == 1
    assert worker.process.stderr is not None
    assert b"CONFORMANCE_SLOTS must be a positive integer" in await worker.process.stderr.read()
