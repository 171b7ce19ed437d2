"""The gateway on the in-memory transport, and the official SDK talking to it in process.

Shared by the unit tests that check REST shapes through the ``cloudflare``
package without Ray: ``sdk_call(fake, lambda cf: cf.workflows...)`` runs one
SDK coroutine against a fresh gateway app over ``httpx.ASGITransport``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx
from cloudflare import AsyncCloudflare

from pyflow_actors.client.api import AsyncClient
from pyflow_actors.config import EngineConfig, TokenSpec
from service import create_app
from tests.fake_transport import FakeTransport

TOKEN, ACCOUNT = "unit-token", "acme"
T = TypeVar("T")


def gateway_app(fake: FakeTransport) -> Any:
    return create_app(
        AsyncClient(fake),
        EngineConfig(storage="/nonexistent"),
        tokens=(TokenSpec(TOKEN, (ACCOUNT,)),),
    )


def sdk_call(fake: FakeTransport, call: Callable[[AsyncCloudflare], Awaitable[T]]) -> T:
    """Run ``call(cf)`` with the official async SDK pointed at the gateway on ``fake``."""

    async def go() -> T:
        transport = httpx.ASGITransport(gateway_app(fake))
        async with httpx.AsyncClient(transport=transport) as http:
            cf = AsyncCloudflare(
                api_token=TOKEN,
                base_url="http://gw/client/v4",
                max_retries=0,
                http_client=http,
            )
            return await call(cf)

    return asyncio.run(go())
