"""The versions routes on the real engine, through the official SDK: answers in the
SDK's shapes, 404 for an unknown version or workflow, never a server error."""

from __future__ import annotations

import cloudflare
import pytest

from tests.api.conftest import ACCOUNT

pytestmark = pytest.mark.ray


def test_versions_answer_in_the_sdk_shapes_and_404_when_unknown(cf):
    listed = list(cf.workflows.versions.list("echo", account_id=ACCOUNT))
    for version in listed:
        assert version.language == "python" and version.class_name == "Echo"
        drawn = cf.workflows.versions.graph(version.id, account_id=ACCOUNT, workflow_name="echo")
        assert drawn.graph is None or drawn.graph.workflow.class_name == "Echo"
    with pytest.raises(cloudflare.NotFoundError) as caught:
        cf.workflows.versions.get("nope", account_id=ACCOUNT, workflow_name="echo")
    assert caught.value.errors[0].message.startswith("version.not_found: ")
    with pytest.raises(cloudflare.NotFoundError) as caught:
        list(cf.workflows.versions.list("no-such-workflow", account_id=ACCOUNT))
    assert caught.value.errors[0].message.startswith("workflow.not_found: ")
