"""The worker's parts on their own: backoff, report buffer, outbox, throttle, JSON, errors."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from taskstream import DeadlineExceeded, NonRetryableError, TaskCancelled, WorkerStopping
from taskstream._json import parse_json, to_json
from taskstream._outbox import Outbox, drop_redundant_starts
from taskstream._proto.v1 import workers_pb2 as pb
from taskstream._reports import ReportBuffer
from taskstream._throttle import DEFAULT_HEARTBEAT_WINDOW, ProgressThrottle, heartbeat_window
from taskstream.backoff import Backoff, BackoffPolicy
from taskstream.errors import describe_error


def started(task: str) -> pb.WorkerMessage:
    return pb.WorkerMessage(started=pb.AttemptStarted(task_id=task, attempt=1))


def progress(task: str, details: str = "{}") -> pb.WorkerMessage:
    return pb.WorkerMessage(progress=pb.AttemptProgress(task_id=task, attempt=1, details_json=details))


def completed(task: str) -> pb.WorkerMessage:
    return pb.WorkerMessage(completed=pb.AttemptCompleted(task_id=task, attempt=1, result_json="null"))


def kinds(messages: list[pb.WorkerMessage]) -> list[str]:
    return [f"{m.WhichOneof('msg')}:{getattr(m, str(m.WhichOneof('msg'))).task_id}" for m in messages]


def test_backoff_doubles_with_jitter_up_to_the_cap_and_resets() -> None:
    low = Backoff(BackoffPolicy(0.1, 5.0), random=lambda: 0.0)
    high = Backoff(BackoffPolicy(0.1, 5.0), random=lambda: 1.0)
    assert [round(low.next(), 3) for _ in range(8)] == [0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 2.5, 2.5]
    assert [round(high.next(), 3) for _ in range(8)] == [0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0]
    high.reset()
    assert high.next() == pytest.approx(0.1)
    with pytest.raises(ValueError, match="maximum"):
        BackoffPolicy(1.0, 0.5)


def test_drops_starts_whose_result_is_in_the_same_batch_unless_progress_is() -> None:
    messages = [started("a"), started("b"), progress("b"), started("c"), completed("a"), completed("b")]
    assert kinds(drop_redundant_starts(messages)) == [
        "started:b",
        "progress:b",
        "started:c",
        "completed:a",
        "completed:b",
    ]


async def test_outbox_flushes_what_is_queued_together_once() -> None:
    written: list[list[str]] = []
    outbox = Outbox(lambda messages: written.append(kinds(messages)))
    outbox.implied_starts = True
    outbox.push(started("a"))
    outbox.push(completed("a"))
    outbox.push(started("b"))
    await asyncio.sleep(0.01)
    assert written == [["completed:a", "started:b"]]
    outbox.implied_starts = False
    outbox.push(started("c"))
    outbox.push(completed("c"))
    outbox.flush()
    assert written[1] == ["started:c", "completed:c"]


async def test_report_buffer_keeps_results_until_acknowledged() -> None:
    buffer = ReportBuffer()
    buffer.keep(completed("a"))
    buffer.defer(started("b"))
    buffer.defer(progress("b", '{"n":1}'))
    buffer.defer(progress("b", '{"n":2}'))
    drained = buffer.drain()
    assert kinds(drained) == ["started:b", "progress:b", "completed:a"]
    assert drained[1].progress.details_json == '{"n":2}'
    assert kinds(buffer.drain()) == ["completed:a"]
    assert [r.task_id for r in buffer.unacknowledged()] == ["a"]
    assert not await buffer.wait_empty(0.01)
    assert buffer.acknowledge("a", 1)
    assert not buffer.acknowledge("a", 1)
    assert await buffer.wait_empty(0.01)
    with pytest.raises(ValueError):
        buffer.keep(started("x"))


async def test_throttle_sends_the_first_at_once_and_the_latest_at_the_window_end() -> None:
    sent: list[tuple[float, str]] = []
    loop = asyncio.get_running_loop()
    throttle = ProgressThrottle(lambda d: sent.append((loop.time(), d)), 0.1)
    start = loop.time()
    for i in range(5):
        throttle.record(str(i))
    assert [d for _, d in sent] == ["0"]
    await asyncio.sleep(0.15)
    assert [d for _, d in sent] == ["0", "4"]
    assert sent[1][0] - start >= 0.099
    throttle.record("5")  # inside the window opened by "4"
    throttle.close(flush=True)
    assert [d for _, d in sent] == ["0", "4", "5"]
    throttle.record("6")
    assert len(sent) == 3


async def test_throttle_drops_pending_details_when_closed_without_flush() -> None:
    sent: list[str] = []
    throttle = ProgressThrottle(sent.append, 0.05)
    throttle.record("a")
    throttle.record("b")
    throttle.close(flush=False)
    await asyncio.sleep(0.1)
    throttle.record("c")
    assert sent == ["a"]


def test_the_window_is_80_percent_of_the_tasks_heartbeat_timeout() -> None:
    assert heartbeat_window(1000) == pytest.approx(0.8)
    assert heartbeat_window(10_000) == pytest.approx(8.0)
    assert heartbeat_window(0) == DEFAULT_HEARTBEAT_WINDOW == 30.0


def test_json_is_strict_both_ways() -> None:
    assert to_json({"a": [1, "é"]}) == '{"a":[1,"é"]}'
    assert parse_json("") is None
    assert parse_json("", "empty") == "empty"
    with pytest.raises(ValueError):
        to_json(float("inf"))
    with pytest.raises(TypeError):
        to_json(object())
    with pytest.raises(ValueError):
        parse_json("NaN")


def test_describes_errors_by_class_name_and_retryability() -> None:
    class Quota(NonRetryableError):
        pass

    assert describe_error(Quota("q")).__dict__ == {
        "message": "q",
        "error_type": "Quota",
        "non_retryable": True,
    }
    assert describe_error(KeyError("k")).error_type == "KeyError"
    assert str(TaskCancelled("user asked")) == "cancelled: user asked"
    deadline = datetime(2030, 1, 2, tzinfo=UTC)
    assert str(DeadlineExceeded(deadline)) == "deadline 2030-01-02T00:00:00+00:00 exceeded"
    assert describe_error(WorkerStopping()).error_type == "WorkerStopping"
