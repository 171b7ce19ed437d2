"""``GET /metrics``: Prometheus series from the engine's stats, what is missing
left out, an unreachable engine reported as down, a token required."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from pyflow_actors.analytics import HistogramSnapshot
from pyflow_actors.client.api import AsyncClient
from pyflow_actors.config import EngineConfig, TokenSpec
from pyflow_actors.errors import EngineUnavailable
from service import create_app
from tests.fake_transport import FakeTransport
from tests.unit.test_gateway import AppClient

TOKEN = "unit-token"

FULL_STATS = {
    "live_actors": 3,
    "max_running": 8,
    "ready": 2,
    "alarms": 5,
    "hibernated": 4,
    "by_status": {"running": 3, "queued": 2, "complete": 10},
    "by_workflow_status": {"shop": {"running": 3, "complete": 10}, "mail": {"queued": 2}},
    "activations_total": 17,
    "activation_seconds": HistogramSnapshot.of([0.3, 0.5, 2.0]).model_dump(),
    "event_delivery_seconds": HistogramSnapshot.of([0.002]).model_dump(),
    "loop_lag_seconds": 0.004,
    "storage_errors_total": 1,
    "warm_actors": 2,
    "warm_made": 9,
    "warm_admitted": 6,
    "warm_let_go": 1,
    "worker_stock_idle": 2,
    "worker_stock_prestarted": 7,
    "worker_stock_taken": 5,
    "worker_stock_looks": 12,
    "history_folded_total": 40,
    "history_fold_seconds": 0.25,
    "subscription_backlog": {"ops": 7},
    "subscription_dead_letters": {"ops": 1},
    "steps": {
        "durations": {"shop": HistogramSnapshot.of([0.01, 0.2]).model_dump()},
        "attempts": {"shop": {"success": 4, "failure": 3}},
    },
    "storage": "/secret/path/never/a/label",
}


@pytest.fixture
def fake() -> FakeTransport:
    return FakeTransport(("shop",))


@pytest.fixture
def api(fake) -> AppClient:
    app = create_app(
        AsyncClient(fake),
        EngineConfig(storage="/nonexistent"),
        tokens=(TokenSpec(TOKEN, ("acme",)), TokenSpec("other-token", ("beta",))),
    )
    return AppClient(app, headers={"Authorization": f"Bearer {TOKEN}"})


def scrape(api: AppClient, **kwargs) -> dict[str, dict[tuple, float]]:
    """``{sample name: {sorted label items: value}}``."""
    response = api.get("/metrics", **kwargs)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    samples: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return samples


def test_every_series_the_engine_reports_is_exposed(api, fake):
    fake.stats_snapshot = FULL_STATS
    s = scrape(api)
    assert s["pyflow_engine_up"] == {(): 1}
    assert s["pyflow_live_actors"] == {(): 3}
    assert s["pyflow_instances_queued"] == {(): 2}
    assert s["pyflow_instances_hibernated"] == {(): 4}
    assert s["pyflow_instances_running"] == {(): 3}
    assert s["pyflow_instances"][(("status", "complete"), ("workflow", "shop"))] == 10
    assert s["pyflow_instances"][(("status", "queued"), ("workflow", "mail"))] == 2
    assert s["pyflow_instances_by_status"][(("status", "running"),)] == 3
    assert s["pyflow_activations_total"] == {(): 17}
    assert s["pyflow_activation_seconds_count"] == {(): 3}
    assert s["pyflow_activation_seconds_bucket"][(("le", "1.0"),)] == 2
    assert s["pyflow_activation_seconds_bucket"][(("le", "+Inf"),)] == 3
    assert s["pyflow_event_delivery_seconds_count"] == {(): 1}
    assert s["pyflow_supervisor_loop_lag_seconds"] == {(): 0.004}
    assert s["pyflow_storage_errors_total"] == {(): 1}
    assert s["pyflow_warm_actors"] == {(): 2}
    assert s["pyflow_warm_actors_made_total"] == {(): 9}
    assert s["pyflow_warm_actors_admitted_total"] == {(): 6}
    assert s["pyflow_warm_actors_let_go_total"] == {(): 1}
    assert s["pyflow_worker_stock_idle"] == {(): 2}
    assert s["pyflow_worker_stock_prestarted_total"] == {(): 7}
    assert s["pyflow_worker_stock_taken_total"] == {(): 5}
    assert s["pyflow_worker_stock_looks_total"] == {(): 12}
    assert s["pyflow_history_folded_total"] == {(): 40}
    assert s["pyflow_history_fold_seconds_total"] == {(): 0.25}
    assert s["pyflow_subscription_backlog"] == {(("subscription", "ops"),): 7}
    assert s["pyflow_subscription_dead_letters"] == {(("subscription", "ops"),): 1}
    assert s["pyflow_step_duration_seconds_count"] == {(("workflow", "shop"),): 2}
    attempts = s["pyflow_step_attempts_total"]
    assert attempts[(("outcome", "failure"), ("workflow", "shop"))] == 3


def test_labels_never_carry_paths_tokens_or_payloads(api, fake):
    fake.stats_snapshot = FULL_STATS
    text = api.get("/metrics").text
    assert "/secret/path" not in text and TOKEN not in text
    label_names = {
        name
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        for name in sample.labels
    }
    assert label_names <= {"workflow", "status", "outcome", "subscription", "le"}


def test_series_the_engine_does_not_report_yet_are_left_out(api, fake):
    # Today's supervisor stats(): no hibernated, activations, lag, steps...
    fake.stats_snapshot = {"live_actors": 1, "ready": 0, "alarms": 2, "by_status": {"waiting": 2}}
    s = scrape(api)
    assert s["pyflow_engine_up"] == {(): 1} and s["pyflow_alarms"] == {(): 2}
    assert s["pyflow_instances_running"] == {(): 0}
    for missing in ("pyflow_instances", "pyflow_activations_total", "pyflow_step_attempts_total"):
        assert missing not in s


def test_an_engine_that_does_not_answer_is_reported_down(api, fake):
    fake.fail["stats"] = EngineUnavailable("the supervisor is restarting")
    assert scrape(api) == {"pyflow_engine_up": {(): 0}}


def test_metrics_need_a_gateway_token_of_any_account(api):
    assert api.get("/metrics", headers={"Authorization": ""}).status_code == 401
    assert api.get("/metrics", headers={"Authorization": "Bearer nope"}).status_code == 401
    assert "pyflow_engine_up" in scrape(api, headers={"Authorization": "Bearer other-token"})
