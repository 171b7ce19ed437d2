"""createBatch with per-entry results on the real engine: the official SDK's
``instances.bulk`` and our client's object form, on the Ray and HTTP transports."""

from __future__ import annotations

import json

import pytest

from pyflow_actors.errors import InstanceAlreadyExists, InstanceIdRepeated, InvalidInstanceId
from tests.api.conftest import ACCOUNT, new_id

pytestmark = [pytest.mark.ray, pytest.mark.timeout(300)]


def test_sdk_bulk_creates_good_entries_and_reports_the_others(cf, http):
    taken, fresh, other = new_id("taken"), new_id("fresh"), new_id("other")
    cf.workflows.instances.create("echo", account_id=ACCOUNT, instance_id=taken)
    body = [
        {"instance_id": fresh, "params": json.dumps({"n": 1})},
        {"instance_id": taken},
        {"instance_id": "not valid!"},
        {"instance_id": fresh},
        {"instance_id": other},
    ]

    raw = cf.workflows.instances.with_raw_response.bulk("echo", account_id=ACCOUNT, body=body)

    assert [c.id for c in raw.parse()] == [fresh, other]
    errors = raw.http_response.json()["result_info"]["errors"]
    assert [(e["index"], e["code"]) for e in errors] == [
        (1, InstanceAlreadyExists.numeric_code),
        (2, InvalidInstanceId.numeric_code),
        (3, InstanceIdRepeated.numeric_code),
    ]
    got = cf.workflows.instances.get(fresh, account_id=ACCOUNT, workflow_name="echo")
    assert got.params == {"n": 1}


def test_our_client_object_form_on_both_transports(any_client):
    echo = any_client.workflow("echo")
    taken = echo.create(id=new_id("taken"))
    one, two = new_id("one"), new_id("two")

    result = echo.create_batch(
        {"instances": [{"id": one, "params": 1}, {"id": taken.id}, {"id": two, "params": 2}]}
    )

    assert [i.id for i in result.created] == [one, two]
    assert [(e.index, e.id, e.code) for e in result.errors] == [
        (1, taken.id, InstanceAlreadyExists.numeric_code)
    ]
    assert result.created[1].wait(60).output["echo"] == 2
    counted = echo.create_batch({"count": 2, "params": "same"})
    assert len(counted.created) == 2 and not counted.errors
    assert {i.wait(60).output["echo"] for i in counted.created} == {"same"}
