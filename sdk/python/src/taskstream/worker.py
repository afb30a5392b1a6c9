"""A Taskstream worker: runs handlers for the task types it registers, over one gRPC stream."""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import signal
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc

from taskstream._attempt import AttemptEnv, AttemptRun, Completed, Handler, HandlerSpec, Outcome
from taskstream._connection import Connection, ConnectionHooks, Disconnect
from taskstream._outbox import Outbox
from taskstream._proto.v1.workers_pb2 import (
    Assignment,
    AttemptCompleted,
    AttemptFailed,
    AttemptProgress,
    AttemptRef,
    AttemptStarted,
    DispatcherMessage,
    Heartbeat,
    Register,
    Registered,
    WorkerBatch,
    WorkerMessage,
)
from taskstream._reports import ReportBuffer
from taskstream._running import RunningAttempts
from taskstream._throttle import heartbeat_window
from taskstream._version import SDK_NAME
from taskstream.backoff import DEFAULT_BACKOFF, BackoffPolicy
from taskstream.errors import WorkerError, WorkerStopping

DEFAULT_HEARTBEAT_INTERVAL = 2.0
"""Seconds between heartbeats when neither the dispatcher nor the options say."""


def _is_async(handler: Handler) -> bool:
    """Whether calling the handler gives a coroutine: an async function (or partial of one), or an
    object whose ``__call__`` is async. Anything else runs in a thread."""
    return inspect.iscoroutinefunction(handler) or inspect.iscoroutinefunction(type(handler).__call__)


class Worker:
    """Registers its handlers with the leading dispatcher over one gRPC stream, runs up to ``slots``
    attempts at once, heartbeats, and reports every attempt's outcome until the dispatcher
    acknowledges it. ``await run()`` returns once the worker has been stopped (``stop()``) and
    raises ``WorkerError`` on a fatal error.
    """

    def __init__(
        self,
        *,
        addresses: Sequence[str] | str,
        handlers: Mapping[str, Handler],
        slots: int = 10,
        name: str | None = None,
        labels: Mapping[str, str] | None = None,
        logger: logging.Logger | None = None,
        credentials: grpc.ChannelCredentials | None = None,
        api_key: str | None = None,
        heartbeat_interval: float | None = None,
        heartbeat_throttle: float | None = None,
        backoff: BackoffPolicy = DEFAULT_BACKOFF,
        register_timeout: float = 10.0,
        channel_options: Sequence[tuple[str, int | str]] = (),
    ) -> None:
        """See the README for every option; durations are in seconds."""
        address_list = [addresses] if isinstance(addresses, str) else list(addresses)
        if not address_list or any(not isinstance(a, str) or ":" not in a for a in address_list):
            raise ValueError(f"addresses must be host:port strings, got {addresses!r}")
        if not handlers:
            raise ValueError("a worker needs at least one handler")
        for task_type, handler in handlers.items():
            if not isinstance(task_type, str) or not task_type:
                raise ValueError(f"task types must be non-empty strings, got {task_type!r}")
            if not callable(handler):
                raise TypeError(f"the handler of {task_type!r} is not callable")
        if isinstance(slots, bool) or not isinstance(slots, int) or slots < 1:
            raise ValueError(f"slots must be a positive integer, got {slots!r}")
        if heartbeat_interval is not None and not heartbeat_interval > 0:
            raise ValueError(f"heartbeat_interval must be positive, got {heartbeat_interval!r}")
        if heartbeat_throttle is not None and not heartbeat_throttle >= 0:
            raise ValueError(f"heartbeat_throttle must be zero or positive, got {heartbeat_throttle!r}")
        if api_key is not None and (not api_key or any(c.isspace() for c in api_key)):
            raise ValueError("api_key must be a non-empty string without whitespace")
        self._handlers = {t: HandlerSpec(h, _is_async(h)) for t, h in handlers.items()}
        self._slots = slots
        self._name = name or f"py-worker-{os.getpid()}"
        self._labels = dict(labels or {})
        self._log = logger or logging.getLogger("taskstream")
        self._heartbeat_override = heartbeat_interval
        self._heartbeat_throttle = heartbeat_throttle
        metadata = [("authorization", f"Bearer {api_key}")] if api_key else []
        self._connection = Connection(
            addresses=address_list,
            hooks=ConnectionHooks(
                register=self._register_message,
                on_registered=self._on_registered,
                on_message=self._on_message,
                on_disconnected=self._on_disconnected,
                on_resume_refused=self._on_resume_refused,
            ),
            logger=self._log,
            credentials=credentials,
            metadata=metadata,
            options=channel_options,
            backoff=backoff,
            register_timeout=register_timeout,
        )
        self._reports = ReportBuffer()
        self._running = RunningAttempts()
        self._outbox = Outbox(self._write)
        self._executor: ThreadPoolExecutor | None = None
        self._worker_id = ""
        self._resume_token = ""
        self._max_result_bytes = 0
        self._accepts_batches = False
        self._heartbeat_interval = heartbeat_interval or DEFAULT_HEARTBEAT_INTERVAL
        self._heartbeat_task: asyncio.Task[None] | None = None
        self._state = "new"
        self._connection_task: asyncio.Task[None] | None = None
        self._registered_once: asyncio.Future[None] | None = None
        self._stopping: asyncio.Task[None] | None = None
        self._stopped: asyncio.Event | None = None
        self._fatal: BaseException | None = None

    @property
    def worker_id(self) -> str:
        """The id the dispatcher gave this worker; "" until the first registration."""
        return self._worker_id

    @property
    def active_count(self) -> int:
        """How many handlers run now."""
        return len(self._running)

    @property
    def heartbeat_interval(self) -> float:
        """Seconds between heartbeats: the override, else what the dispatcher asked for."""
        return self._heartbeat_interval

    async def start(self) -> None:
        """Connects and returns once registered with a leading dispatcher (retrying until then);
        the worker then runs in the background until ``stop()``."""
        if self._stopping is not None:
            raise RuntimeError("the worker has been stopped")
        self._ensure_started()
        assert self._registered_once is not None
        await asyncio.shield(self._registered_once)

    async def run(self) -> None:
        """Runs the worker until it is stopped; raises ``WorkerError`` on a fatal error."""
        if self._stopping is not None and self._connection_task is None:
            await self._stopping  # stopped before it ever ran: nothing to run
            return
        self._ensure_started()
        assert self._stopped is not None
        await self._stopped.wait()
        if self._fatal is not None:
            raise self._fatal

    def stop(self, grace: float = 30.0, *, settle: float = 1.0, flush: float = 5.0) -> asyncio.Task[None]:
        """Stops gracefully: takes no more work (assignments arriving meanwhile fail with
        WORKER_STOPPING, so the dispatcher retries them elsewhere), waits up to ``grace`` seconds for
        running handlers, then interrupts them with ``WorkerStopping``; those still running
        ``settle`` seconds later are reported failed with WORKER_STOPPING. Then it waits up to
        ``flush`` seconds for the last results to be acknowledged and closes the stream.
        Returns a task to await; calling it again returns the same task."""
        if self._stopping is None:
            self._stopping = asyncio.get_running_loop().create_task(self._shutdown(grace, settle, flush))
        return self._stopping

    def run_sync(self, grace: float = 30.0) -> None:
        """Runs the worker in a new event loop until SIGTERM or SIGINT, which stop it gracefully
        with ``grace`` seconds for running handlers; raises ``WorkerError`` on a fatal error."""
        asyncio.run(self._run_until_signalled(grace))

    async def _run_until_signalled(self, grace: float) -> None:
        loop = asyncio.get_running_loop()
        signals = (signal.SIGTERM, signal.SIGINT)

        def on_signal(signum: signal.Signals) -> None:
            if self._stopping is None:
                self._log.info("%s received: stopping (grace %.1fs)", signum.name, grace)
            self.stop(grace)

        for signum in signals:
            loop.add_signal_handler(signum, on_signal, signum)
        try:
            await self.run()
        finally:
            for signum in signals:
                loop.remove_signal_handler(signum)

    def _ensure_started(self) -> None:
        if self._connection_task is not None:
            return
        loop = asyncio.get_running_loop()
        self._registered_once = loop.create_future()
        # Retrieved so that an unawaited start() never logs "exception was never retrieved".
        self._registered_once.add_done_callback(lambda f: f.cancelled() or f.exception())
        self._stopped = asyncio.Event()
        self._state = "running"
        self._connection_task = loop.create_task(self._connection.run(), name="taskstream connection")
        self._connection_task.add_done_callback(self._connection_ended)

    def _connection_ended(self, task: asyncio.Task[None]) -> None:
        error = None if task.cancelled() else task.exception()
        if error is None:
            return
        self._fatal = error
        self._log.error("worker stopping on a fatal error: %s", error)
        if self._registered_once is not None and not self._registered_once.done():
            self._registered_once.set_exception(error)
        self.stop(0, flush=0)

    async def _shutdown(self, grace: float, settle: float, flush: float) -> None:
        was_started = self._state != "new"
        self._state = "stopping"
        if was_started:
            if not await self._running.settle(grace):
                self._running.interrupt_all(WorkerStopping())
                if not await self._running.settle(settle):
                    self._abandon_running()
            if not await self._reports.wait_empty(flush):
                self._log.warning("stopping with %d unacknowledged results", len(self._reports))
        self._stop_heartbeats()
        await self._connection.close()
        if self._connection_task is not None:
            await asyncio.wait([self._connection_task])
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
        self._state = "stopped"
        if self._registered_once is not None and not self._registered_once.done():
            self._registered_once.set_exception(
                self._fatal or WorkerError("the worker was stopped before it registered")
            )
        if self._stopped is not None:
            self._stopped.set()

    def _abandon_running(self) -> None:
        """Reports handlers that ignored their interruption as failed, so their tasks are retried now."""
        for run in self._running.take_all():
            # Details still waiting for their window go first: the next attempt starts from them.
            run.end_progress(flush=True)
            self._report(
                AttemptFailed(
                    task_id=run.task_id,
                    attempt=run.attempt,
                    message="the worker stopped before the handler finished",
                    error_type="WORKER_STOPPING",
                )
            )

    def _held(self) -> list[AttemptRef]:
        """Attempts this worker holds: running ones and those whose result awaits an ack. The latter
        count too: the dispatcher fails an attempt a reconnecting worker does not list, and the
        re-sent result would then be rejected as stale."""
        held = {(r.task_id, r.attempt): r for r in [*self._running.refs(), *self._reports.unacknowledged()]}
        return list(held.values())

    def _register_message(self) -> Register:
        return Register(
            worker_id=self._worker_id,
            resume_token=self._resume_token,
            name=self._name,
            types=list(self._handlers),
            labels=self._labels,
            slots=self._slots,
            sdk=SDK_NAME,
            active=self._held(),
            accepts_batches=True,
        )

    def _on_registered(self, registered: Registered, address: str) -> None:
        self._worker_id = registered.worker_id
        self._resume_token = registered.resume_token
        self._max_result_bytes = registered.max_result_bytes
        self._accepts_batches = registered.accepts_batches
        self._outbox.implied_starts = registered.accepts_batches
        self._heartbeat_interval = self._heartbeat_override or (
            registered.heartbeat_interval_ms / 1000
            if registered.heartbeat_interval_ms > 0
            else DEFAULT_HEARTBEAT_INTERVAL
        )
        self._stop_heartbeats()
        self._heartbeat_task = asyncio.get_running_loop().create_task(self._heartbeats())
        for message in self._reports.drain():
            self._send(message)
        self._log.info("registered (worker_id=%s address=%s)", self._worker_id, address)
        if self._registered_once is not None and not self._registered_once.done():
            self._registered_once.set_result(None)

    def _on_resume_refused(self, details: str) -> None:
        """The dispatcher would not let this worker resume its identity (its token no longer proves
        it, say after the cluster's secret was replaced): register as a new worker. Results of
        attempts held under the old identity will be refused, and those attempts retried elsewhere."""
        self._log.warning(
            "worker identity %s not resumed; registering as a new worker (%s)", self._worker_id, details
        )
        self._worker_id = self._resume_token = ""

    def _on_disconnected(self, disconnect: Disconnect) -> None:
        self._stop_heartbeats()
        # What the stream ended before writing, and what is queued for it, waits for the next one.
        self._defer_transient(disconnect.unsent)
        self._outbox.flush()
        if disconnect.was_registered and self._state == "running":
            self._log.warning(
                "dispatcher stream lost (address=%s code=%s details=%r)",
                disconnect.address,
                disconnect.code.name if disconnect.code else None,
                disconnect.details,
            )

    async def _heartbeats(self) -> None:
        while True:
            await asyncio.sleep(self._heartbeat_interval)
            self._send(WorkerMessage(heartbeat=Heartbeat(active=self._held())))

    def _stop_heartbeats(self) -> None:
        if self._heartbeat_task is not None:
            self._heartbeat_task.cancel()
            self._heartbeat_task = None

    def _on_message(self, message: DispatcherMessage) -> None:
        kind = message.WhichOneof("msg")
        if kind == "assignment":
            self._on_assignment(message.assignment)
        elif kind == "cancel":
            run = self._running.get(message.cancel.task_id, message.cancel.attempt)
            if run is not None:
                run.cancel(message.cancel.reason)
        elif kind == "ack":
            ack = message.ack
            self._reports.acknowledge(ack.task_id, ack.attempt)
            if not ack.accepted:
                self._log.warning(
                    "result not accepted (task_id=%s attempt=%d reason=%s)",
                    ack.task_id,
                    ack.attempt,
                    ack.reason,
                )

    def _on_assignment(self, a: Assignment) -> None:
        task_id, attempt = a.task_id, a.attempt
        # The same attempt again (e.g. re-sent around a reconnect) must not run twice.
        if self._running.get(task_id, attempt) is not None or self._reports.holds(task_id, attempt):
            self._log.warning("duplicate assignment ignored (task_id=%s attempt=%d)", task_id, attempt)
            return

        def refuse(message: str, error_type: str) -> None:
            self._report(
                AttemptFailed(task_id=task_id, attempt=attempt, message=message, error_type=error_type)
            )

        if self._state != "running":
            return refuse("the worker is stopping", "WORKER_STOPPING")
        # The dispatcher counts free slots too; this guards against it being wrong.
        if len(self._running) >= self._slots:
            return refuse("worker has no free slot", "NO_SLOT")
        handler = self._handlers.get(a.type)
        if handler is None:
            return refuse(f'no handler for task type "{a.type}"', "UNKNOWN_TASK_TYPE")

        def send_progress(details_json: str) -> None:
            progress = AttemptProgress(task_id=task_id, attempt=attempt, details_json=details_json)
            self._send(WorkerMessage(progress=progress))

        env = AttemptEnv(
            send_progress=send_progress,
            progress_window=self._progress_window(a.heartbeat_timeout_ms),
            max_details_bytes=lambda: self._max_result_bytes,
            executor=None if handler.is_async else self._sync_executor(),
            worker_id=self._worker_id,
        )
        run = AttemptRun(a, handler, env)
        self._running.add(run)
        self._send(WorkerMessage(started=AttemptStarted(task_id=task_id, attempt=attempt)))
        run.start().add_done_callback(lambda done: self._finish(run, done))

    def _progress_window(self, heartbeat_timeout_ms: int) -> float:
        """Shortest time between two progress reports of an attempt whose task's heartbeat timeout
        is ``heartbeat_timeout_ms``: 80% of it (30 s without one), shortened to the
        ``heartbeat_throttle`` cap when one is set."""
        window = heartbeat_window(heartbeat_timeout_ms)
        if self._heartbeat_throttle is not None:
            return min(window, self._heartbeat_throttle)
        return window

    def _sync_executor(self) -> ThreadPoolExecutor:
        """Threads for synchronous handlers, one per slot, made when the first one runs."""
        if self._executor is None:
            self._executor = ThreadPoolExecutor(
                max_workers=self._slots, thread_name_prefix="taskstream-handler"
            )
        return self._executor

    def _finish(self, run: AttemptRun, done: asyncio.Task[Outcome]) -> None:
        # Not ours any more: given up on at shutdown, and already reported as WORKER_STOPPING.
        if not self._running.remove(run) or done.cancelled():
            return
        error = done.exception()
        if error is not None:
            self._log.error("attempt %s#%d ended without an outcome: %r", run.task_id, run.attempt, error)
            run.end_progress(flush=True)
            self._report(
                AttemptFailed(
                    task_id=run.task_id,
                    attempt=run.attempt,
                    message=str(error),
                    error_type=type(error).__name__,
                )
            )
            return
        outcome = done.result()
        if not isinstance(outcome, Completed):
            self._report(outcome.failure)
            return
        size = len(outcome.result_json.encode())
        if self._max_result_bytes > 0 and size > self._max_result_bytes:
            # Sent, it would be refused (or end the stream past the message limit): fail the attempt.
            self._report(
                AttemptFailed(
                    task_id=run.task_id,
                    attempt=run.attempt,
                    message=f"result of {size} bytes exceeds the limit of {self._max_result_bytes} bytes",
                    error_type="RESULT_TOO_LARGE",
                    non_retryable=True,
                )
            )
            return
        completed = AttemptCompleted(
            task_id=run.task_id, attempt=run.attempt, result_json=outcome.result_json
        )
        message = WorkerMessage(completed=completed)
        self._reports.keep(message)
        self._send(message)

    def _report(self, failure: AttemptFailed) -> None:
        message = WorkerMessage(failed=failure)
        self._reports.keep(message)
        self._send(message)

    def _send(self, message: WorkerMessage) -> None:
        """Queues a report; the queue is written once per event-loop turn (see ``_write``)."""
        self._outbox.push(message)

    def _write(self, messages: list[WorkerMessage]) -> None:
        """Writes one turn's reports: one alone, several as one WorkerBatch when the dispatcher
        accepts batches (one by one otherwise). Started/progress that cannot be written wait for the
        next stream; results are kept until acknowledged anyway, and a heartbeat is only useful now."""
        if len(messages) == 1 or not self._accepts_batches:
            for message in messages:
                if not self._connection.send(message):
                    self._defer_transient([message])
            return
        batch = WorkerMessage(batch=WorkerBatch(messages=messages))
        if not self._connection.send(batch):
            self._defer_transient([batch])

    def _defer_transient(self, messages: list[WorkerMessage]) -> None:
        for message in messages:
            kind = message.WhichOneof("msg")
            if kind == "batch":
                self._defer_transient(list(message.batch.messages))
            elif kind in ("started", "progress"):
                self._reports.defer(message)


def run_worker(*, grace: float = 30.0, **options: Any) -> None:
    """Builds a ``Worker`` from keyword options and runs it until SIGTERM/SIGINT (see ``run_sync``)."""
    Worker(**options).run_sync(grace)
