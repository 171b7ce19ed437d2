"""Retention on the real engine: ``instance_retention`` given through the
official SDK and our client shows in get (resolved, in milliseconds, with
when the finished instance is purged)."""

from __future__ import annotations

import pytest

from pyflow_actors.retention import Retention
from tests.api.conftest import ACCOUNT, new_id
from tests.conftest import wait_for

pytestmark = pytest.mark.ray


def test_sdk_instance_retention_shows_in_get(engine, cf, http):
    instance_id = new_id("ret")
    cf.workflows.instances.create(
        "echo",
        account_id=ACCOUNT,
        instance_id=instance_id,
        params='{"a": 1}',
        instance_retention={"success_retention": "2 days"},
    )
    wait_for(
        lambda: (
            cf.workflows.instances.get(instance_id, account_id=ACCOUNT, workflow_name="echo").status
            == "complete"
        ),
        60,
    )
    result = http.get(f"/echo/instances/{instance_id}").json()["result"]
    days = 86_400_000
    assert result["retention"] == {
        "success_retention": 2 * days,
        "error_retention": round(engine.config.retention * 1000),
    }
    assert result["expires_on"] is not None and result["expires_on"] > result["end"]


def test_client_retention_round_trips_on_both_transports(any_client):
    instance = any_client.workflow("echo").create(
        {"params": 1, "retention": {"errorRetention": 60_000}}
    )
    wait_for(lambda: instance.status().is_final, 60)
    assert instance.describe().retention.error == Retention(error=60.0).error
