"""``params`` as a JSON-encoded string, through the official SDK, on the real engine:
the workflow's ``event.payload`` is the decoded value."""

from __future__ import annotations

import pytest

from tests.api.conftest import ACCOUNT, new_id
from tests.conftest import wait_for

pytestmark = pytest.mark.ray


def test_the_workflow_sees_decoded_params_from_create_and_bulk(cf):
    one, two, three = new_id("js"), new_id("js"), new_id("js")
    cf.workflows.instances.create(
        "echo", account_id=ACCOUNT, instance_id=one, params='{"hello": "world"}'
    )
    cf.workflows.instances.bulk(
        "echo",
        account_id=ACCOUNT,
        body=[{"instance_id": two, "params": "[1, 2]"}, {"instance_id": three, "params": "hi"}],
    )

    def got(instance_id: str):
        return cf.workflows.instances.get(instance_id, account_id=ACCOUNT, workflow_name="echo")

    for instance_id in (one, two, three):
        wait_for(lambda i=instance_id: got(i).status == "complete", 60)
    assert got(one).params == {"hello": "world"}
    assert got(one).output["echo"] == {"hello": "world"}
    assert got(two).output["echo"] == [1, 2]
    assert got(three).output["echo"] == "hi"
