"""The real gateway over HTTP, on uvicorn, in front of the session's engine.

One uvicorn server per test session, in a background thread, on a free
127.0.0.1 port; it serves the shared ``engine`` (tests/conftest.py) through
its Ray transport. Clients: raw ``httpx``, the official ``cloudflare`` SDK, and
our ``Client`` on either transport (``any_client``).
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import uvicorn

from pyflow_actors.client.api import Client
from pyflow_actors.config import TokenSpec

TOKEN, ACCOUNT = "api-test-token", "acme"
OTHER_TOKEN, OTHER_ACCOUNT = "api-test-other", "globex"


class ServerThread:
    """uvicorn serving ``app`` on a free 127.0.0.1 port in a daemon thread."""

    def __init__(self, app: Any) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        # A stream still open at the end of the session (a browser's live view, a log
        # follow) would hold the graceful shutdown until join's timeout (10 s of the
        # suite's teardown): it is cancelled after one second instead.
        config = uvicorn.Config(
            app,
            lifespan="off",
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=1,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )

    def start(self, timeout: float = 20.0) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the gateway did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()


@pytest.fixture(scope="session")
def gateway(engine) -> Iterator[str]:
    """The gateway's root URL (``http://127.0.0.1:PORT``)."""
    from service import create_app

    client = asyncio.run(engine.async_client())
    tokens = (TokenSpec(TOKEN, (ACCOUNT,)), TokenSpec(OTHER_TOKEN, (OTHER_ACCOUNT,)))
    server = ServerThread(create_app(client, engine.config, tokens=tokens)).start()
    yield server.url
    server.stop()


def workflows_api(
    gateway: str, account: str = ACCOUNT, token: str = TOKEN, timeout: float = 60
) -> httpx.Client:
    """Raw HTTP on ``/client/v4/accounts/{account}/workflows``, with the token."""
    return httpx.Client(
        base_url=f"{gateway}/client/v4/accounts/{account}/workflows",
        headers={"Authorization": f"Bearer {token}"},
        timeout=timeout,
    )


@pytest.fixture
def http(gateway) -> Iterator[httpx.Client]:
    """Raw HTTP on ``/client/v4/accounts/acme/workflows``, with the token."""
    with workflows_api(gateway) as client:
        yield client


@pytest.fixture
def cf(gateway):
    """The official cloudflare SDK pointed at the gateway (no retries: we test each call)."""
    from cloudflare import Cloudflare

    client = Cloudflare(api_token=TOKEN, base_url=f"{gateway}/client/v4", max_retries=0)
    yield client
    client.close()


@pytest.fixture(params=["ray", "http"])
def any_client(request, engine, gateway) -> Iterator[Client]:
    """Our client on the Ray transport, then on the HTTP transport: one suite, both."""
    if request.param == "ray":
        yield engine.client
        return
    client = Client.connect(url=gateway, token=TOKEN, account=ACCOUNT)
    yield client
    client.close()


def new_id(prefix: str = "t") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"
