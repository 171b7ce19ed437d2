"""Accounts kept apart, on the real gateway: a token of account B (globex) against
account A's (acme) real resources, on every route the gateway serves.

Every account route of the OpenAPI document (workflows, instances, steps, logs,
status edits, events, versions and their graph, queues, dead letters), every
dashboard page and action, and GraphQL analytics: each answers 403 before it
looks at anything (the v4 envelope; the dashboard's error page), nothing of
A's instance (its id, its params, its output) is in the answer, and the
instance is untouched afterwards. ``/metrics`` is engine-wide by design (see
``service/metrics.py``): it must carry no instance id, params or output.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from pyflow_actors.config import EngineConfig, TokenSpec
from pyflow_actors.errors import Forbidden
from service import create_app
from service.dash import actions, stream, views
from tests.conftest import wait_for

from .conftest import ACCOUNT, OTHER_TOKEN, TOKEN, workflows_api

pytestmark = [pytest.mark.ray, pytest.mark.timeout(300)]

MARKER = f"secret-{uuid.uuid4().hex}"  # in A's params, so in its output and steps
WORKFLOW = "echo"


@dataclass(frozen=True)
class Victim:
    instance: str
    version: str

    def fill(self, path: str) -> str:
        """``path`` with A's real names in its parameters."""
        values = {
            "account_id": ACCOUNT,
            "account": ACCOUNT,
            "workflow_name": WORKFLOW,
            "workflow": WORKFLOW,
            "instance_id": self.instance,
            "instance": self.instance,
            "version_id": self.version,
            "queue_id": "lifecycle",
            "event_type": "approved",
        }
        return re.sub(r"\{(\w+)\}", lambda m: values[m[1]], path)

    def leaked(self, text: str) -> list[str]:
        return [secret for secret in (MARKER, self.instance) if secret in text]


APP = create_app(None, EngineConfig(), tokens=(TokenSpec("x", ("x",)),))  # type: ignore[arg-type]
API_ROUTES = sorted(
    (method.upper(), path)
    for path, operations in APP.openapi()["paths"].items()
    if "{account_id}" in path
    for method in operations
)
DASH_ROUTES = sorted(
    (method, route.path)
    for router in (views.router, actions.router, stream.router)
    for route in router.routes
    for method in route.methods  # type: ignore[attr-defined]
)


@pytest.fixture(scope="module")
def victim(gateway) -> Iterator[Victim]:
    """An instance of account A that ran to its end: it has steps, an output, logs."""
    instance = f"victim-{uuid.uuid4().hex[:10]}"
    with workflows_api(gateway) as api:
        created = api.post(
            f"/{WORKFLOW}/instances", json={"instance_id": instance, "params": {"m": MARKER}}
        )
        assert created.status_code == 201, created.text
        wait_for(
            lambda: (
                api.get(f"/{WORKFLOW}/instances/{instance}/status").json()["result"]["status"]
                == "complete"
            ),
            timeout=60,
        )
        version = api.get(f"/{WORKFLOW}/versions").json()["result"][0]["id"]
        assert MARKER in api.get(f"/{WORKFLOW}/instances/{instance}").text  # A sees it
    victim = Victim(instance, version)
    yield victim
    with workflows_api(gateway) as api:  # B's calls changed nothing
        after = api.get(f"/{WORKFLOW}/instances/{instance}")
        assert after.status_code == 200 and after.json()["result"]["status"] == "complete"


def test_every_account_surface_is_walked():
    paths = " ".join(path for _, path in API_ROUTES + DASH_ROUTES)
    for surface in ("/instances/{instance_id}/logs", "/versions/{version_id}/graph", "/queues/"):
        assert surface in paths, surface
    for surface in ("/event_subscriptions/", "/step", "/subscribe", "/dash/a/{account}/"):
        assert surface in paths, surface
    assert len(API_ROUTES) >= 20 and len(DASH_ROUTES) >= 9


@pytest.mark.parametrize(("method", "path"), API_ROUTES)
def test_another_accounts_token_is_refused_on_every_api_route(gateway, victim, method, path):
    response = httpx.request(
        method,
        gateway + victim.fill(path),
        headers={"Authorization": f"Bearer {OTHER_TOKEN}"},
        json={"status": "terminate", "instances": [victim.instance]},
        timeout=30,
    )
    assert response.status_code == 403, response.text
    body = response.json()
    assert body["success"] is False and body["result"] is None, body
    [error] = body["errors"]
    assert error["code"] == Forbidden.numeric_code
    assert error["message"].startswith(Forbidden.code + ": "), error
    assert victim.leaked(response.text) == []


@pytest.fixture(scope="module")
def intruder_dashboard(gateway) -> Iterator[httpx.Client]:
    """B signed in to the dashboard."""
    with httpx.Client(base_url=gateway, timeout=30) as browser:
        signed_in = browser.post("/dash/signin", data={"token": OTHER_TOKEN})
        assert signed_in.status_code in (200, 303), signed_in.text
        assert browser.cookies, "no session cookie"
        yield browser


@pytest.mark.parametrize(("method", "path"), DASH_ROUTES)
def test_another_accounts_session_is_refused_on_every_dashboard_page(
    intruder_dashboard, victim, method, path
):
    # follow_redirects: ".../instances" is a redirect to the workflow's page (no data).
    response = intruder_dashboard.request(
        method,
        victim.fill(path),
        data={"action": "terminate", "type": "approved"},
        follow_redirects=True,
    )
    assert response.status_code == 403, response.text[:300]
    assert Forbidden.code in response.text
    assert victim.leaked(response.text) == []


def test_graphql_analytics_of_another_account_answer_no_data(gateway, victim):
    query = """query ($a: string!) { viewer { accounts(filter: {accountTag: $a}) {
        accountTag workflowsAdaptiveGroups(limit: 100, filter: {}) { count
          dimensions { workflowName instanceId } } } } }"""
    response = httpx.post(
        f"{gateway}/client/v4/graphql",
        headers={"Authorization": f"Bearer {OTHER_TOKEN}"},
        json={"query": query, "variables": {"a": ACCOUNT}},
        timeout=30,
    )
    body = response.json()
    viewer = (body.get("data") or {}).get("viewer")
    assert not viewer or not viewer.get("accounts"), body
    assert [e["extensions"]["code"] for e in body["errors"]] == [Forbidden.code], body
    assert victim.leaked(response.text) == []
    # The same query with A's own token does see A's analytics.
    own = httpx.post(
        f"{gateway}/client/v4/graphql",
        headers={"Authorization": f"Bearer {TOKEN}"},
        json={"query": query, "variables": {"a": ACCOUNT}},
        timeout=30,
    ).json()
    assert own["data"]["viewer"]["accounts"][0]["accountTag"] == ACCOUNT, own


def test_metrics_carry_no_instance_data_for_any_token(gateway, victim):
    response = httpx.get(
        f"{gateway}/metrics", headers={"Authorization": f"Bearer {OTHER_TOKEN}"}, timeout=30
    )
    assert response.status_code == 200
    assert "pyflow_" in response.text
    assert victim.leaked(response.text) == []
