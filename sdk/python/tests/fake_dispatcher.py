"""An in-process WorkerService on 127.0.0.1 with scripted behaviour: a real grpc.aio server, so the
SDK is tested over the same transport it uses in production."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import grpc
import grpc.aio

from taskstream._proto.v1 import workers_pb2 as pb
from taskstream._proto.v1.workers_pb2_grpc import WorkerServiceServicer, add_WorkerServiceServicer_to_server

T = TypeVar("T")


async def wait_for(probe: Callable[[], T | None], timeout: float = 3.0, what: str = "condition") -> T:
    """Polls ``probe`` every few ms until it returns something truthy; fails after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met within {timeout} s")
        await asyncio.sleep(0.005)


@dataclass
class _Close:
    code: grpc.StatusCode
    details: str


_END = object()


class FakeStream:
    """One worker stream as the fake dispatcher sees it; consumes the worker's messages in order."""

    def __init__(self, metadata: dict[str, str]) -> None:
        self.received: list[pb.WorkerMessage] = []
        """Messages not consumed yet (batches unpacked)."""
        self.log: list[pb.WorkerMessage] = []
        """Every message received (batches unpacked), never consumed."""
        self.wire: list[pb.WorkerMessage] = []
        """Every message as it came over the stream, batches not unpacked."""
        self.metadata = metadata
        self.ended = False
        self.outgoing: asyncio.Queue[object] = asyncio.Queue()

    def kinds(self) -> list[str]:
        return [str(m.WhichOneof("msg")) for m in self.log]

    async def next(self, kind: str, timeout: float = 3.0) -> Any:
        """Waits for and consumes the next message of a kind; returns its payload (e.g. AttemptCompleted)."""

        def probe() -> Any:
            for i, message in enumerate(self.received):
                if message.WhichOneof("msg") == kind:
                    del self.received[i]
                    return getattr(message, kind)
            return None

        return await wait_for(probe, timeout, f"a {kind} message")

    def has(self, kind: str) -> bool:
        return any(m.WhichOneof("msg") == kind for m in self.received)

    def send(self, message: pb.DispatcherMessage) -> None:
        self.outgoing.put_nowait(message)

    def assign(self, task_id: str, type: str, **fields: Any) -> None:
        """Pushes an assignment with sensible defaults."""
        values: dict[str, Any] = {"attempt": 1, "priority": 5, "max_attempts": 3, **fields}
        self.send(pb.DispatcherMessage(assignment=pb.Assignment(task_id=task_id, type=type, **values)))

    def ack(self, task_id: str, attempt: int = 1, accepted: bool = True) -> None:
        reason = "" if accepted else "STALE_ATTEMPT"
        ack = pb.ReportAck(task_id=task_id, attempt=attempt, accepted=accepted, reason=reason)
        self.send(pb.DispatcherMessage(ack=ack))

    def cancel(self, task_id: str, attempt: int = 1, reason: str = "cancel requested") -> None:
        self.send(
            pb.DispatcherMessage(cancel=pb.CancelAttempt(task_id=task_id, attempt=attempt, reason=reason))
        )

    def close(
        self, code: grpc.StatusCode = grpc.StatusCode.UNAVAILABLE, details: str = "connection reset"
    ) -> None:
        """Ends the stream with a status, the way the real dispatcher does."""
        self.outgoing.put_nowait(_Close(code, details))


class FakeDispatcher(WorkerServiceServicer):
    """Start with ``await FakeDispatcher.start(...)``; ``address`` is where it listens."""

    def __init__(
        self,
        *,
        refuse: str | None = None,
        refuse_code: grpc.StatusCode = grpc.StatusCode.UNAVAILABLE,
        auto_ack: bool = True,
        heartbeat_interval_ms: int = 2000,
        accepts_batches: bool = True,
        max_result_bytes: int = 0,
    ) -> None:
        self.refuse = refuse
        self.refuse_code = refuse_code
        self.auto_ack = auto_ack
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.accepts_batches = accepts_batches
        self.max_result_bytes = max_result_bytes
        self.streams: list[FakeStream] = []
        self.registers: list[pb.Register] = []
        self.token_suffix = ""
        """Changing it invalidates every token issued before (as a new cluster secret would)."""
        self.address = ""
        self._server: grpc.aio.Server | None = None
        self._next_id = 1

    @classmethod
    async def start(cls, **options: Any) -> FakeDispatcher:
        fake = cls(**options)
        server = grpc.aio.server()
        add_WorkerServiceServicer_to_server(fake, server)
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        fake._server = server
        fake.address = f"127.0.0.1:{port}"
        return fake

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.stop(grace=None)

    async def stream(self, index: int = 0, timeout: float = 3.0) -> FakeStream:
        """Waits for the n-th registered stream (0-based)."""
        return await wait_for(
            lambda: self.streams[index] if len(self.streams) > index else None, timeout, f"stream #{index}"
        )

    async def Connect(self, request_iterator: Any, context: grpc.aio.ServicerContext[Any, Any]) -> None:  # type: ignore[override]
        stream = FakeStream({k: str(v) for k, v in context.invocation_metadata() or ()})
        reader = asyncio.get_running_loop().create_task(self._read(request_iterator, stream))
        try:
            while True:
                item = await stream.outgoing.get()
                if item is _END:
                    return
                if isinstance(item, _Close):
                    await context.abort(item.code, item.details)
                assert isinstance(item, pb.DispatcherMessage)
                await context.write(item)
        finally:
            stream.ended = True
            reader.cancel()

    async def _read(self, request_iterator: Any, stream: FakeStream) -> None:
        registered = False
        try:
            async for message in request_iterator:
                stream.wire.append(message)
                inner = list(message.batch.messages) if message.WhichOneof("msg") == "batch" else [message]
                for m in inner:
                    if not registered and m.WhichOneof("msg") == "register":
                        registered = self._register(m.register, stream)
                        continue
                    stream.received.append(m)
                    stream.log.append(m)
                    kind = m.WhichOneof("msg")
                    if self.auto_ack and kind in ("completed", "failed"):
                        report = getattr(m, kind)
                        stream.ack(report.task_id, report.attempt)
        except grpc.aio.AioRpcError:
            pass
        stream.outgoing.put_nowait(_END)

    def _register(self, register: pb.Register, stream: FakeStream) -> bool:
        self.registers.append(register)
        if self.refuse is not None:
            stream.close(self.refuse_code, self.refuse)
            return False
        if register.worker_id and register.resume_token != f"token-{register.worker_id}{self.token_suffix}":
            stream.close(
                grpc.StatusCode.PERMISSION_DENIED, "register.resume_token: does not prove the worker"
            )
            return False
        worker_id = register.worker_id or f"w-{self._next_id}"
        if not register.worker_id:
            self._next_id += 1
        self.streams.append(stream)
        registered = pb.Registered(
            worker_id=worker_id,
            heartbeat_interval_ms=self.heartbeat_interval_ms,
            heartbeat_timeout_ms=10_000,
            accepts_batches=self.accepts_batches,
            resume_token=f"token-{worker_id}{self.token_suffix}",
            max_result_bytes=self.max_result_bytes,
        )
        stream.send(pb.DispatcherMessage(registered=registered))
        return True
