"""``GET .../instances/{id}/logs`` over the fake transport, and the HTTP
transport's round trip of it (what ``Instance.logs()`` returns)."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from pyflow_actors.client.api import AsyncClient
from pyflow_actors.client.http_transport import HttpTransport
from pyflow_actors.config import EngineConfig, TokenSpec
from pyflow_actors.errors import InstanceNotFound
from pyflow_actors.models import CreateOptions, InstanceLogs, LogLine
from service import create_app
from tests.fake_transport import FakeTransport
from tests.unit.test_gateway import ACCOUNT, AUTH, BASE, TOKEN, AppClient, assert_error


def setup() -> tuple[FakeTransport, object, list[LogLine]]:
    fake = FakeTransport(("hello",))
    app = create_app(
        AsyncClient(fake),
        EngineConfig(storage="/nonexistent"),
        tokens=(TokenSpec(TOKEN, (ACCOUNT,)),),
    )
    asyncio.run(fake.create("hello", [CreateOptions(id="i1")], batch=False))
    now = time.time()
    lines = [
        LogLine(n=1, time=now, step=None, stream="stdout", message="start [x]"),
        LogLine(n=2, time=now + 1, step="fetch", stream="log", level="INFO", message="a: b"),
        LogLine(n=3, time=now + 2, step="fetch", stream="stderr", message="oops"),
    ]
    fake.logs[("hello", "i1")] = lines
    return fake, app, lines


def test_logs_endpoint_pages_with_an_after_cursor_in_the_v4_envelope():
    _, app, _ = setup()
    api = AppClient(app, headers=AUTH)
    body = api.get(f"{BASE}/hello/instances/i1/logs").json()
    assert body["success"] is True and body["errors"] == []
    result = body["result"]
    assert [line["message"] for line in result["lines"]] == ["start [x]", "a: b", "oops"]
    assert result["lines"][1] == {
        "n": 2,
        "timestamp": result["lines"][1]["timestamp"],
        "step": "fetch",
        "stream": "log",
        "level": "INFO",
        "message": "a: b",
    }
    assert result["lines"][0]["timestamp"].endswith("Z")
    assert result["next_after"] == 3 and result["truncated"] is False
    newer = api.get(f"{BASE}/hello/instances/i1/logs", params={"after": 2}).json()["result"]
    assert [line["n"] for line in newer["lines"]] == [3]
    last = api.get(f"{BASE}/hello/instances/i1/logs", params={"limit": 1}).json()["result"]
    assert [line["n"] for line in last["lines"]] == [3] and last["truncated"] is True


def test_logs_endpoint_errors_are_clear_4xx():
    _, app, _ = setup()
    api = AppClient(app, headers=AUTH)
    assert_error(api.get(f"{BASE}/hello/instances/nope/logs"), 404, "instance.not_found")
    assert_error(
        api.get(f"{BASE}/hello/instances/i1/logs", params={"limit": 0}), 400, "validation.invalid"
    )
    assert_error(
        api.get(f"{BASE}/hello/instances/i1/logs", params={"after": -1}), 400, "validation.invalid"
    )
    anonymous = AppClient(app)
    assert anonymous.get(f"{BASE}/hello/instances/i1/logs").status_code == 401


def test_http_transport_returns_the_same_log_lines():
    _, app, lines = setup()

    async def go() -> InstanceLogs:
        transport = HttpTransport(
            "http://gw", token=TOKEN, account=ACCOUNT, transport=httpx.ASGITransport(app)
        )
        try:
            instance = await AsyncClient(transport).workflow("hello").get("i1")
            return await instance.logs(after=1)
        finally:
            await transport.close()

    logs = asyncio.run(go())
    assert [(line.n, line.step, line.stream, line.level, line.message) for line in logs.lines] == [
        (line.n, line.step, line.stream, line.level, line.message) for line in lines[1:]
    ]
    assert abs(logs.lines[0].time - lines[1].time) < 1e-3
    assert logs.next_after == 3


def test_http_transport_raises_the_engines_error_for_an_unknown_instance():
    _, app, _ = setup()

    async def go() -> None:
        transport = HttpTransport(
            "http://gw", token=TOKEN, account=ACCOUNT, transport=httpx.ASGITransport(app)
        )
        try:
            await transport.instance_logs("hello", "nope")
        finally:
            await transport.close()

    with pytest.raises(InstanceNotFound, match="nope"):
        asyncio.run(go())
