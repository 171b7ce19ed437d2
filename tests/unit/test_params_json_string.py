"""``params`` sent as a JSON-encoded string (as the cloudflare SDK types it) is decoded.

A string holding JSON becomes the value it encodes; any other string stays a
string; non-string params pass through untouched.
"""

from __future__ import annotations

import asyncio

import pytest

from pyflow_actors.client.api import AsyncClient
from pyflow_actors.models import CreateOptions, decode_json_string
from tests.fake_transport import FakeTransport
from tests.unit.gateway_on_fake import ACCOUNT, sdk_call


@pytest.mark.parametrize(
    ("sent", "seen"),
    [
        ('{"email": "a@example.com"}', {"email": "a@example.com"}),
        ("[1, 2, 3]", [1, 2, 3]),
        ("42", 42),
        ('"quoted"', "quoted"),
        ("null", None),
        ("hello", "hello"),
        ("{not json", "{not json"),
        ("NaN", "NaN"),
        ("", ""),
        ({"already": "decoded"}, {"already": "decoded"}),
        (7, 7),
    ],
)
def test_a_json_string_is_decoded_and_anything_else_kept(sent, seen):
    assert decode_json_string(sent) == seen
    assert CreateOptions(params=sent).params == seen


def test_sdk_create_with_a_json_string_stores_the_decoded_params():
    fake = FakeTransport(("hello",))

    async def create(cf):
        return await cf.workflows.instances.create(
            "hello", account_id=ACCOUNT, instance_id="s1", params='{"user": {"id": 7}}'
        )

    created = sdk_call(fake, create)
    assert created.id == "s1"
    assert fake.params[("hello", "s1")] == {"user": {"id": 7}}

    async def get(cf):
        return await cf.workflows.instances.get("s1", account_id=ACCOUNT, workflow_name="hello")

    assert sdk_call(fake, get).params == {"user": {"id": 7}}


def test_sdk_bulk_create_decodes_each_entry_and_keeps_plain_strings():
    fake = FakeTransport(("hello",))

    async def bulk(cf):
        page = await cf.workflows.instances.bulk(
            "hello",
            account_id=ACCOUNT,
            body=[
                {"instance_id": "b1", "params": "[1, 2]"},
                {"instance_id": "b2", "params": "just text"},
            ],
        )
        return [item.id async for item in page]

    assert sdk_call(fake, bulk) == ["b1", "b2"]
    assert fake.params[("hello", "b1")] == [1, 2]
    assert fake.params[("hello", "b2")] == "just text"


def test_python_client_decodes_a_json_string_in_create_and_create_batch():
    fake = FakeTransport(("hello",))

    async def scenario() -> None:
        hello = AsyncClient(fake).workflow("hello")
        await hello.create(id="c1", params='{"n": 1}')
        await hello.create_batch([{"id": "c2", "params": '{"n": 2}'}, {"id": "c3"}])

    asyncio.run(scenario())
    assert fake.params[("hello", "c1")] == {"n": 1}
    assert fake.params[("hello", "c2")] == {"n": 2}
    assert fake.params[("hello", "c3")] is None
