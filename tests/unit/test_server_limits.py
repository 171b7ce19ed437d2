"""The gateway served as `pyflow dev` serves it: oversized headers refused, others served."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import httpx
import pytest
import uvicorn

from pyflow_actors.cli.dev import MAX_HEADER_BYTES, server_config
from pyflow_actors.client.api import AsyncClient
from pyflow_actors.config import EngineConfig, TokenSpec
from service import create_app
from tests.conftest import wait_for
from tests.fake_transport import FakeTransport

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def gateway() -> Iterator[str]:
    app = create_app(
        AsyncClient(FakeTransport(("hello",))),
        EngineConfig(storage="/nonexistent"),
        tokens=(TokenSpec("tok", ("acme",)),),
    )
    server = uvicorn.Server(server_config(app))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    wait_for(lambda: server.started, 10)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def test_headers_over_the_limit_are_refused_and_normal_requests_served(gateway):
    auth = {"Authorization": "Bearer tok"}
    ok = httpx.get(f"{gateway}/client/v4/accounts/acme/workflows", headers=auth)
    assert ok.status_code == 200
    huge = {**auth, "X-Padding": "a" * (MAX_HEADER_BYTES + 1)}
    refused = httpx.get(f"{gateway}/client/v4/accounts/acme/workflows", headers=huge)
    assert refused.status_code == 431
    body = refused.json()
    assert body["success"] is False
    assert body["errors"][0]["message"].startswith("request.headers_too_large: ")


def test_uvicorn_runs_with_connection_and_keep_alive_limits():
    config = server_config(object())
    assert config.limit_concurrency and config.limit_concurrency > 0
    assert config.h11_max_incomplete_event_size == MAX_HEADER_BYTES
    assert config.timeout_keep_alive <= 5
