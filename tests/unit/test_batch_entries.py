"""createBatch with per-entry results, without Ray: the gateway's ``POST
.../instances/batch`` through the official SDK, our client's object form
(``{"instances": [...]}``, ``{"count": N}``) and its array form, on the fake
transport; and the engine's admission of such a batch."""

from __future__ import annotations

import asyncio
import json

import cloudflare
import pytest

from pyflow_actors.client.api import AsyncBatchCreated, AsyncClient
from pyflow_actors.errors import (
    InstanceAlreadyExists,
    InstanceIdRepeated,
    InvalidInstanceId,
    PayloadTooLarge,
)
from pyflow_actors.models import CreateOptions
from tests.fake_transport import FakeTransport

from .fake_actors import FakeBackend
from .gateway_on_fake import ACCOUNT, sdk_call
from .test_supervisor import WF, run, started

pytestmark = pytest.mark.timeout(30)


def test_sdk_bulk_creates_the_good_entries_and_names_each_refused_one():
    fake = FakeTransport()
    asyncio.run(AsyncClient(fake).workflow("hello").create(id="taken"))
    body = [
        {"instance_id": "a", "params": json.dumps({"n": 1})},
        {"instance_id": "taken"},
        {"instance_id": "-bad-"},
        {"instance_id": "a"},
        {"instance_id": "b", "params": json.dumps({"n": 2})},
    ]

    async def bulk(cf):  # type: ignore[no-untyped-def]
        raw = await cf.workflows.instances.with_raw_response.bulk(
            "hello", account_id=ACCOUNT, body=body
        )
        return [c async for c in await raw.parse()], raw.http_response.json()

    created, answer = sdk_call(fake, bulk)

    assert [c.id for c in created] == ["a", "b"]
    assert all(c.status == "queued" for c in created)
    errors = answer["result_info"]["errors"]
    assert [(e["index"], e["id"], e["code"]) for e in errors] == [
        (1, "taken", InstanceAlreadyExists.numeric_code),
        (2, "-bad-", InvalidInstanceId.numeric_code),
        (3, "a", InstanceIdRepeated.numeric_code),
    ]
    assert errors[1]["message"].startswith("instance.invalid_id: ")
    assert fake.params[("hello", "b")] == {"n": 2}


def test_a_batch_of_only_invalid_entries_is_that_error_and_one_of_taken_ids_is_empty():
    fake = FakeTransport()
    asyncio.run(AsyncClient(fake).workflow("hello").create(id="taken"))

    with pytest.raises(cloudflare.BadRequestError, match="instance.invalid_id"):
        sdk_call(
            fake,
            lambda cf: cf.workflows.instances.bulk(
                "hello", account_id=ACCOUNT, body=[{"instance_id": "-x"}]
            ),
        )

    async def retried(cf):  # type: ignore[no-untyped-def]
        page = cf.workflows.instances.bulk(
            "hello", account_id=ACCOUNT, body=[{"instance_id": "taken"}]
        )
        return [c async for c in page]

    assert sdk_call(fake, retried) == []  # a retried batch: nothing new, no error


def test_our_client_object_form_gives_each_entry_its_result():
    fake = FakeTransport()
    hello = AsyncClient(fake).workflow("hello")

    async def go() -> tuple[AsyncBatchCreated, AsyncBatchCreated]:
        await hello.create(id="taken")
        listed = await hello.create_batch(
            {"instances": [{"id": "x1"}, {"id": "taken"}, {"id": 7}, {"id": "x2", "params": 2}]}
        )
        counted = await hello.create_batch({"count": 3, "params": {"plan": "pro"}})
        return listed, counted

    listed, counted = asyncio.run(go())
    assert [i.id for i in listed.created] == ["x1", "x2"]
    assert [(e.index, e.id) for e in listed.errors] == [(1, "taken"), (2, None)]
    assert listed.errors[1].message.startswith("binding.invalid_call: ")
    assert len(counted.created) == 3 and counted.errors == []
    assert all(fake.params[("hello", i.id)] == {"plan": "pro"} for i in counted.created)


def test_the_array_form_still_skips_taken_ids_and_refuses_an_invalid_entry():
    fake = FakeTransport()
    hello = AsyncClient(fake).workflow("hello")

    async def go() -> list[str]:
        await hello.create(id="taken")
        created = await hello.create_batch([{"id": "y1"}, {"id": "taken"}])
        return [i.id for i in created]

    assert asyncio.run(go()) == ["y1"]
    with pytest.raises(InvalidInstanceId):
        asyncio.run(hello.create_batch([{"id": "ok"}, {"id": "-no"}]))


@pytest.mark.parametrize(
    "shape", [{"instances": [], "count": 1}, {"count": 0}, {"count": 1, "extra": 1}]
)
def test_an_object_form_of_the_wrong_shape_is_refused(shape):
    from pyflow_actors.errors import InvalidBindingCall

    with pytest.raises(InvalidBindingCall):
        asyncio.run(AsyncClient(FakeTransport()).workflow("hello").create_batch(shape))


def test_the_engine_admits_a_batch_entry_by_entry(tmp_path):
    async def scenario() -> None:
        sup = await started(tmp_path, FakeBackend())
        await sup.create(WF, [CreateOptions(id="old")], batch=False)
        big = "x" * (2 << 20)
        result = await sup.create_entries(
            WF,
            [
                CreateOptions(id="n1"),
                CreateOptions(id="old"),
                CreateOptions(id="n2", params=big),
                CreateOptions(id="n1"),
                CreateOptions(id="n3"),
            ],
        )
        assert [i.id for i in result.created] == ["n1", "n3"]
        assert [(e.index, e.id, e.code) for e in result.errors] == [
            (1, "old", InstanceAlreadyExists.numeric_code),
            (2, "n2", PayloadTooLarge.numeric_code),
            (3, "n1", InstanceIdRepeated.numeric_code),
        ]
        assert {r.id for r in sup.table if r.workflow == WF} == {"old", "n1", "n3"}

    run(scenario)
