"""TLS and API keys: the worker and the client speak to a TLS server with the given credentials."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import grpc
import grpc.aio
import pytest

from taskstream import Client, TaskstreamError, Worker
from taskstream._proto.v1.tasks_pb2_grpc import add_TaskServiceServicer_to_server
from taskstream._proto.v1.workers_pb2_grpc import add_WorkerServiceServicer_to_server
from tests.conftest import echo
from tests.fake_dispatcher import FakeDispatcher
from tests.test_client import FakeTasks

pytestmark = pytest.mark.skipif(
    shutil.which("openssl") is None, reason="openssl is needed to make a certificate"
)


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, bytes]:
    folder = tmp_path_factory.mktemp("tls")
    key, cert = folder / "key.pem", folder / "cert.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return Path(key).read_bytes(), Path(cert).read_bytes()


async def test_worker_and_client_connect_over_tls(certificate: tuple[bytes, bytes]) -> None:
    key, cert = certificate
    fake = FakeDispatcher()
    tasks = FakeTasks()
    server = grpc.aio.server()
    add_WorkerServiceServicer_to_server(fake, server)
    add_TaskServiceServicer_to_server(tasks, server)
    port = server.add_secure_port("127.0.0.1:0", grpc.ssl_server_credentials([(key, cert)]))
    await server.start()
    address = f"127.0.0.1:{port}"
    worker = Worker(
        addresses=[address],
        handlers={"echo": echo},
        api_key="k",
        credentials=grpc.ssl_channel_credentials(root_certificates=cert),
    )
    try:
        await worker.start()
        assert (await fake.stream()).metadata["authorization"] == "Bearer k"
        async with Client(address, api_key="k", credentials=grpc.ssl_channel_credentials(cert)) as client:
            assert (await client.submit("echo")).id == "t-1"
        async with Client(address, timeout=2) as plaintext:
            with pytest.raises(TaskstreamError) as refused:
                await plaintext.submit("echo")
            assert refused.value.code == grpc.StatusCode.UNAVAILABLE
    finally:
        await worker.stop(0)
        await server.stop(None)
