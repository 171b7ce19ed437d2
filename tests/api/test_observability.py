"""Metrics and live progress against the real engine, through the real gateway."""

from __future__ import annotations

import json

import httpx
from httpx_sse import connect_sse
from prometheus_client.parser import text_string_to_metric_families

from tests.api.conftest import ACCOUNT, TOKEN, new_id

AUTH = {"Authorization": f"Bearer {TOKEN}"}


def stream(gateway: str, instance: str) -> list[dict]:
    """The events of an echo instance's subscribe stream, until it ends."""
    url = f"{gateway}/client/v4/accounts/{ACCOUNT}/workflows/echo/instances/{instance}/subscribe"
    with (
        httpx.Client(headers=AUTH, timeout=httpx.Timeout(60, read=120)) as client,
        connect_sse(client, "GET", url) as source,
    ):
        return [json.loads(e.data) for e in source.iter_sse() if e.data]


def test_metrics_report_the_engine_and_its_instances(gateway, http):
    instance = new_id("m")
    assert (
        http.post("/echo/instances", json={"instance_id": instance, "params": 1}).status_code == 201
    )
    events = stream(gateway, instance)
    assert events[-1]["type"] == "workflow_completed"
    text = httpx.get(f"{gateway}/metrics", headers=AUTH, timeout=60).text
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    assert samples[("pyflow_engine_up", ())] == 1
    assert samples[("pyflow_instances_by_status", (("status", "complete"),))] >= 1
    assert ("pyflow_live_actors", ()) in samples


def test_an_instance_streams_its_whole_life_until_it_completes(gateway, http):
    instance = new_id("s")
    assert (
        http.post("/echo/instances", json={"instance_id": instance, "params": "hi"}).status_code
        == 201
    )
    events = stream(gateway, instance)
    history = [e for e in events if e["eventId"] is not None]
    assert [e["type"] for e in history] == [
        "workflow_queued", "workflow_started", "step_started", "attempt_started",
        "attempt_completed", "step_completed", "workflow_completed",
    ]  # fmt: skip
    assert [e["eventId"] for e in history] == list(range(1, 8))
    assert history[5]["output"] == "hi" and history[-1]["output"]["echo"] == "hi"
