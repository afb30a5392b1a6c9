"""The worker's one stream to the leading dispatcher, kept open across failures.

It registers on every (re)connect, tries the addresses round-robin while they refuse (``not
leader``, unreachable), and backs off exponentially between tries. A registered stream that broke
is retried at the same address first: its dispatcher probably still leads. A resume refused with
PERMISSION_DENIED is retried at once as a new worker. Refusals that retrying cannot cure (an invalid
registration, an unauthenticated key) are fatal: ``run`` raises ``WorkerError``.

Writes go through one writer task per stream (grpc.aio allows one write at a time); what the writer
had not written when the stream ended is handed back in ``Disconnect.unsent``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import grpc
import grpc.aio

from taskstream._proto.v1.workers_pb2 import (
    DispatcherMessage,
    Register,
    Registered,
    WorkerMessage,
)
from taskstream._proto.v1.workers_pb2_grpc import WorkerServiceStub
from taskstream.backoff import DEFAULT_BACKOFF, Backoff, BackoffPolicy
from taskstream.errors import WorkerError

# Refusals of a Register that no retry can cure: a bad registration, a missing or wrong API key,
# or an address that is not a Taskstream dispatcher.
_FATAL_CODES = frozenset(
    {
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.UNAUTHENTICATED,
        grpc.StatusCode.UNIMPLEMENTED,
        grpc.StatusCode.FAILED_PRECONDITION,
    }
)

_DONE_WRITING = object()


@dataclass(frozen=True)
class Disconnect:
    """Why a stream ended."""

    address: str
    code: grpc.StatusCode | None
    details: str
    was_registered: bool
    unsent: list[WorkerMessage] = field(default_factory=list)
    """Messages handed to ``send`` that the stream ended before writing."""


@dataclass(frozen=True)
class ConnectionHooks:
    """The worker's side of the connection."""

    register: Callable[[], Register]
    """Builds the Register message; called on every connect, so it carries the current identity."""
    on_registered: Callable[[Registered, str], None]
    on_message: Callable[[DispatcherMessage], None]
    on_disconnected: Callable[[Disconnect], None]
    on_resume_refused: Callable[[str], None]


def channel_options(extra: Sequence[tuple[str, int | str]] = ()) -> list[tuple[str, int | str]]:
    """Channel arguments of a worker stream: keepalive pings so a dead connection is noticed while
    the stream is idle, no message size limit of our own (the dispatcher enforces its own), and
    short reconnect backoff in gRPC itself since the connection's own backoff governs retries."""
    options: dict[str, int | str] = {
        "grpc.keepalive_time_ms": 20_000,
        "grpc.keepalive_timeout_ms": 10_000,
        "grpc.keepalive_permit_without_calls": 0,
        "grpc.http2.max_pings_without_data": 0,
        "grpc.max_receive_message_length": -1,
        "grpc.max_send_message_length": -1,
        "grpc.initial_reconnect_backoff_ms": 100,
        "grpc.min_reconnect_backoff_ms": 100,
        "grpc.max_reconnect_backoff_ms": 5_000,
    }
    options.update(dict(extra))
    return list(options.items())


def _unpack(message: DispatcherMessage, logger: logging.Logger, address: str) -> list[DispatcherMessage]:
    """A batch's messages in order, as if they had arrived one by one; a nested batch is ignored."""
    if message.WhichOneof("msg") != "batch":
        return [message]
    inner = []
    for m in message.batch.messages:
        if m.WhichOneof("msg") == "batch":
            logger.warning("nested batch ignored (address=%s)", address)
        else:
            inner.append(m)
    return inner


class Connection:
    """One logical connection over successive gRPC streams."""

    def __init__(
        self,
        *,
        addresses: Sequence[str],
        hooks: ConnectionHooks,
        logger: logging.Logger,
        credentials: grpc.ChannelCredentials | None = None,
        metadata: Sequence[tuple[str, str]] = (),
        options: Sequence[tuple[str, int | str]] = (),
        backoff: BackoffPolicy = DEFAULT_BACKOFF,
        register_timeout: float = 10.0,
    ) -> None:
        if not addresses:
            raise ValueError("at least one dispatcher address is required")
        self._addresses = list(addresses)
        self._hooks = hooks
        self._log = logger
        self._credentials = credentials
        self._metadata = tuple(metadata)
        self._options = channel_options(options)
        self._backoff = Backoff(backoff)
        self._register_timeout = register_timeout
        self._channels: dict[str, grpc.aio.Channel] = {}
        self._index = 0
        self._closed = False
        self._wake = asyncio.Event()
        self._call: grpc.aio.StreamStreamCall[WorkerMessage, DispatcherMessage] | None = None
        self._queue: asyncio.Queue[object] | None = None
        self._registered = False
        self._ran = False

    @property
    def connected(self) -> bool:
        """Whether a registered stream is open now."""
        return self._registered

    def send(self, message: WorkerMessage) -> bool:
        """Queues a message on the registered stream; False (nothing queued) while disconnected."""
        if not self._registered or self._queue is None:
            return False
        self._queue.put_nowait(message)
        return True

    async def run(self) -> None:
        """Connects and reconnects until ``close``; raises ``WorkerError`` on a fatal refusal."""
        if self._ran:
            raise RuntimeError("a connection runs once")
        self._ran = True
        try:
            while not self._closed:
                address = self._addresses[self._index % len(self._addresses)]
                resuming = False

                def register() -> Register:
                    nonlocal resuming
                    message = self._hooks.register()
                    resuming = message.worker_id != ""
                    return message

                disconnect = await self._session(address, register)
                self._hooks.on_disconnected(disconnect)
                if self._closed:
                    return
                await self._after(disconnect, resuming)
        finally:
            for channel in self._channels.values():
                await channel.close(None)
            self._channels.clear()

    async def close(self, timeout: float = 2.0) -> None:
        """Stops reconnecting and half-closes the stream (after what is queued), so the dispatcher
        sees a clean end; cancels the stream if the dispatcher does not end it within ``timeout``."""
        self._closed = True
        self._wake.set()
        call = self._call
        if call is None:
            return
        if not self._registered or self._queue is None:
            call.cancel()
            return
        self._queue.put_nowait(_DONE_WRITING)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self._call is call and loop.time() < deadline:
            await asyncio.sleep(0.01)
        if self._call is call:
            call.cancel()

    async def _after(self, disconnect: Disconnect, resuming: bool) -> None:
        """Decides where and when to try next, or raises when retrying cannot help."""
        code, details, address = disconnect.code, disconnect.details, disconnect.address
        refused = not disconnect.was_registered
        if refused and (code in _FATAL_CODES or (code == grpc.StatusCode.PERMISSION_DENIED and not resuming)):
            raise WorkerError(f"dispatcher {address} refused the worker: {code.name}: {details}")
        not_leader = code == grpc.StatusCode.UNAVAILABLE and details.startswith("not leader")
        resume_refused = refused and code == grpc.StatusCode.PERMISSION_DENIED
        if resume_refused:
            self._hooks.on_resume_refused(details)
        # A registered stream that broke: its dispatcher probably still leads, so it is tried again
        # first. One that never registered (unreachable, refused) or lost leadership: the next one.
        if (refused and not resume_refused) or not_leader:
            self._index += 1
        if code in (None, grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
            # A fresh channel next time, rather than one that may sit in gRPC's own backoff.
            channel = self._channels.pop(address, None)
            if channel is not None:
                await channel.close(None)
        delay = 0.0 if resume_refused else self._backoff.next()
        self._log.info(
            "dispatcher stream ended; reconnecting (address=%s code=%s details=%r delay=%.3fs)",
            address,
            code.name if code else None,
            details,
            delay,
        )
        if delay > 0:
            try:
                await asyncio.wait_for(self._wake.wait(), delay)
            except TimeoutError:
                pass

    def _channel(self, address: str) -> grpc.aio.Channel:
        channel = self._channels.get(address)
        if channel is None:
            if self._credentials is None:
                channel = grpc.aio.insecure_channel(address, options=self._options)
            else:
                channel = grpc.aio.secure_channel(address, self._credentials, options=self._options)
            self._channels[address] = channel
        return channel

    async def _session(self, address: str, register: Callable[[], Register]) -> Disconnect:
        """One stream: register, then read until it ends. Never raises for the stream's sake."""
        call = WorkerServiceStub(self._channel(address)).Connect(metadata=self._metadata)  # type: ignore[call-arg]  # the stubs lack the reader/writer form
        queue: asyncio.Queue[object] = asyncio.Queue()
        self._call, self._queue = call, queue
        writer: asyncio.Task[list[WorkerMessage]] | None = None
        code: grpc.StatusCode | None = None
        details = ""
        was_registered = False
        loop = asyncio.get_running_loop()
        try:
            await call.write(WorkerMessage(register=register()))
            register_deadline = loop.time() + self._register_timeout
            while True:
                if self._registered:
                    message = await call.read()
                else:
                    left = register_deadline - loop.time()
                    if left <= 0:
                        raise TimeoutError
                    message = await asyncio.wait_for(call.read(), left)
                if message is grpc.aio.EOF:  # type: ignore[attr-defined]
                    break
                assert isinstance(message, DispatcherMessage)
                for inner in _unpack(message, self._log, address):
                    if self._registered:
                        self._hooks.on_message(inner)
                    elif inner.WhichOneof("msg") == "registered":
                        self._registered = was_registered = True
                        self._backoff.reset()
                        writer = loop.create_task(self._write_loop(call, queue))
                        self._hooks.on_registered(inner.registered, address)
        except TimeoutError:
            self._log.warning("dispatcher did not answer register in time (address=%s)", address)
            details = "no answer to register"
        except grpc.aio.AioRpcError as error:
            code, details = error.code(), error.details() or ""
        except asyncio.InvalidStateError:
            pass  # the stream ended under a write; its status is read below
        except asyncio.CancelledError:
            # The call was cancelled by close(); anything else cancelling this task propagates.
            current = asyncio.current_task()
            if current is not None and current.cancelling() > 0:
                call.cancel()
                raise
        finally:
            self._registered = False
            self._call = self._queue = None
        call.cancel()  # no-op when it has ended
        if code is None:
            code = await call.code()
            details = details or (await call.details()) or ""
        unsent = await self._stop_writer(writer, queue)
        return Disconnect(address, code, details, was_registered, unsent)

    async def _write_loop(
        self,
        call: grpc.aio.StreamStreamCall[WorkerMessage, DispatcherMessage],
        queue: asyncio.Queue[object],
    ) -> list[WorkerMessage]:
        """Writes queued messages in order until told to half-close; returns what it could not write."""
        while True:
            item = await queue.get()
            if item is _DONE_WRITING:
                try:
                    await call.done_writing()
                except (grpc.aio.AioRpcError, asyncio.InvalidStateError):
                    pass
                return []
            assert isinstance(item, WorkerMessage)
            try:
                await call.write(item)
            except (grpc.aio.AioRpcError, asyncio.InvalidStateError):
                return [item]

    @staticmethod
    async def _stop_writer(
        writer: asyncio.Task[list[WorkerMessage]] | None, queue: asyncio.Queue[object]
    ) -> list[WorkerMessage]:
        unsent: list[WorkerMessage] = []
        if writer is not None:
            if not writer.done():
                writer.cancel()
            try:
                unsent = await writer
            except asyncio.CancelledError:
                pass
        while not queue.empty():
            item = queue.get_nowait()
            if isinstance(item, WorkerMessage):
                unsent.append(item)
        return unsent
