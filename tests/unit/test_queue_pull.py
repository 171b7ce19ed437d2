"""Subscription pull queues through the gateway, driven by the official
``cloudflare`` SDK's ``queues.messages.pull`` and ``queues.messages.ack``."""

from __future__ import annotations

import asyncio
import base64
import json

import httpx
import pytest
from cloudflare import AsyncCloudflare, BadRequestError, NotFoundError

from pyflow_actors.client.api import AsyncClient
from pyflow_actors.config import EngineConfig, TokenSpec
from pyflow_actors.models import InstanceStatus as S
from pyflow_actors.storage.registry import InstanceRow, Registry
from pyflow_actors.subscriptions import StatusChange, SubscriptionSpec
from pyflow_actors.subscriptions.delivery import outbox_items
from service import create_app
from tests.fake_transport import FakeTransport

TOKEN, ACCOUNT = "unit-token", "acme"
AUDIT = SubscriptionSpec(name="audit", queue="audit")


@pytest.fixture
def registry(tmp_path):
    registry = Registry(tmp_path)
    for instance in ("a", "b"):
        row = InstanceRow("shop", instance, "queued", None, 1.0)
        for n, (before, after) in enumerate([(None, S.QUEUED), (S.QUEUED, S.RUNNING)]):
            change = StatusChange("shop", instance, before, after, 1000.0 + n)
            items = outbox_items(change, [AUDIT], account_id=ACCOUNT, version_id="v1")
            row.status = after.value
            registry.save(row, items)
    yield registry
    registry.close()


def sdk_scenario(registry, scenario) -> None:
    fake = FakeTransport(("shop",))
    fake.outbox = registry.outbox
    config = EngineConfig(storage="/nonexistent", subscriptions=(AUDIT,))
    app = create_app(AsyncClient(fake), config, tokens=(TokenSpec(TOKEN, (ACCOUNT,)),))

    async def go() -> None:
        http = httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://gw")
        cf = AsyncCloudflare(
            api_token=TOKEN, base_url="http://gw/client/v4", http_client=http, max_retries=0
        )
        await scenario(cf)
        await http.aclose()

    asyncio.run(go())


def short(body: dict) -> str:
    return body["type"].rsplit(".", 1)[1]


def bodies(pulled) -> list[dict]:
    return [json.loads(base64.b64decode(m.body)) for m in pulled.messages]


def test_the_cloudflare_sdk_pulls_and_acks_subscription_messages_in_order(registry):
    async def scenario(cf: AsyncCloudflare) -> None:
        first = await cf.queues.messages.pull("audit", account_id=ACCOUNT, batch_size=10)
        assert [(b["payload"]["instanceId"], short(b)) for b in bodies(first)] == [
            ("a", "queued"),
            ("b", "queued"),
        ]
        assert first.message_backlog_count == 4 and first.metadata.metrics.backlog_count == 4
        assert all(m.attempts == 1 and m.lease_id for m in first.messages)
        a, b = first.messages
        done = await cf.queues.messages.ack(
            "audit", account_id=ACCOUNT, acks=[{"lease_id": a.lease_id}],
            retries=[{"lease_id": b.lease_id, "delay_seconds": 0}],
        )  # fmt: skip
        assert (done.ack_count, done.retry_count, done.warnings) == (1, 1, {})
        second = await cf.queues.messages.pull("audit", account_id=ACCOUNT, batch_size=10)
        got = sorted((x["payload"]["instanceId"], short(x)) for x in bodies(second))
        assert got == [("a", "started"), ("b", "queued")]  # b's first again, a's next
        assert {m.attempts for m in second.messages if m.id == b.id} == {2}

    sdk_scenario(registry, scenario)


def test_a_leased_message_comes_back_after_its_visibility_timeout(registry):
    async def scenario(cf: AsyncCloudflare) -> None:
        first = await cf.queues.messages.pull(
            "audit", account_id=ACCOUNT, batch_size=1, visibility_timeout_ms=2000
        )
        [leased] = first.messages
        assert (await cf.queues.messages.pull("audit", account_id=ACCOUNT)).messages[
            0
        ].id != leased.id
        await asyncio.sleep(2.1)  # (a timeout long enough for the pull above under load)
        again = await cf.queues.messages.pull("audit", account_id=ACCOUNT, batch_size=10)
        assert leased.id in {m.id for m in again.messages}

    sdk_scenario(registry, scenario)


def test_unknown_queues_and_bad_parameters_are_clear_errors(registry):
    async def scenario(cf: AsyncCloudflare) -> None:
        with pytest.raises(NotFoundError, match="queue.not_found"):
            await cf.queues.messages.pull("nope", account_id=ACCOUNT)
        with pytest.raises(BadRequestError, match="batch_size must be between 1 and 100"):
            await cf.queues.messages.pull("audit", account_id=ACCOUNT, batch_size=500)
        with pytest.raises(BadRequestError, match="visibility_timeout_ms"):
            await cf.queues.messages.pull("audit", account_id=ACCOUNT, visibility_timeout_ms=-1)
        warned = await cf.queues.messages.ack("audit", account_id=ACCOUNT, acks=[{"lease_id": "x"}])
        assert warned.ack_count == 0 and "x" in warned.warnings

    sdk_scenario(registry, scenario)
