"""The OpenAPI document the gateway serves describes every response it sends:
each operation's success shape inside the v4 envelope, its errors as error
envelopes, and the bodies actually sent match what the document says."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator

from pyflow_actors.client.api import AsyncClient
from pyflow_actors.config import EngineConfig, TokenSpec
from pyflow_actors.errors import QueueFull
from service import create_app
from tests.fake_transport import FakeTransport
from tests.unit.test_gateway import AppClient, steps_fixture

TOKEN, ACCOUNT = "openapi-token", "acme"
PREFIX = "/client/v4/accounts/{account_id}/workflows"
DOC = create_app(
    AsyncClient(FakeTransport()), EngineConfig(), tokens=(TokenSpec(TOKEN, (ACCOUNT,)),)
).openapi()
# Cloudflare's v4 API, where every answer is an envelope (routes outside it, such
# as metrics or a dashboard, have their own media types).
OPERATIONS = [
    (path, method, operation)
    for path, methods in DOC["paths"].items()
    if path.startswith("/client/v4/")
    for method, operation in methods.items()
]
OPERATION_IDS = [f"{method.upper()} {path.removeprefix(PREFIX)}" for path, method, _ in OPERATIONS]


def resolve(schema: dict[str, Any]) -> dict[str, Any]:
    """A schema with its top-level ``$ref`` into ``components`` followed."""
    while "$ref" in schema:
        schema = DOC["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def body_schema(response: dict[str, Any]) -> dict[str, Any]:
    schema: dict[str, Any] = response["content"]["application/json"]["schema"]
    return schema


def test_the_document_lists_the_workflows_and_instances_operations():
    methods = {(method, path.removeprefix(PREFIX)) for path, method, _ in OPERATIONS}
    assert ("get", "/{workflow_name}/instances/{instance_id}") in methods
    assert ("patch", "/{workflow_name}/instances/{instance_id}/status") in methods
    assert len(OPERATIONS) >= 11


@pytest.mark.parametrize(("path", "method", "operation"), OPERATIONS, ids=OPERATION_IDS)
def test_every_operation_describes_its_success_body_as_an_envelope_with_a_result(
    path, method, operation
):
    success = [status for status in operation["responses"] if status.startswith("2")]
    assert len(success) == 1, operation["responses"].keys()
    envelope = resolve(body_schema(operation["responses"][success[0]]))
    assert {"success", "errors", "messages", "result"} <= set(envelope["properties"])
    result = envelope["properties"]["result"]
    # The result's shape is described (a model, a list of one, a union), not "any JSON".
    assert set(result) - {"title", "description"}, (path, method, result)


@pytest.mark.parametrize(("path", "method", "operation"), OPERATIONS, ids=OPERATION_IDS)
def test_every_operation_declares_its_errors_as_error_envelopes_and_never_422(
    path, method, operation
):
    errors = {s: r for s, r in operation["responses"].items() if not s.startswith("2")}
    assert {"400", "401", "403", "500", "503", "4XX"} <= set(errors)
    assert "422" not in errors  # invalid input is a 400 envelope, never FastAPI's 422
    for status, response in errors.items():
        assert body_schema(response) == {"$ref": "#/components/schemas/ErrorEnvelope"}, status


def test_lists_describe_their_result_info_and_the_instance_list_its_cursor():
    workflows = DOC["paths"][PREFIX]["get"]["responses"]["200"]
    instances = DOC["paths"][PREFIX + "/{workflow_name}/instances"]["get"]["responses"]["200"]
    for listing in (workflows, instances):
        assert "result_info" in resolve(body_schema(listing))["properties"]
    info = resolve(body_schema(instances))["properties"]["result_info"]
    assert "cursor" in resolve(info)["properties"]


def test_route_specific_errors_are_declared_with_their_codes():
    create = DOC["paths"][PREFIX + "/{workflow_name}/instances"]["post"]["responses"]
    assert "instance.already_exists" in create["409"]["description"]
    assert "instance.queue_full" in create["429"]["description"]
    step = DOC["paths"][PREFIX + "/{workflow_name}/instances/{instance_id}/step"]["get"]
    assert "step.not_found" in step["responses"]["404"]["description"]


# ---------------------------------------------------------------------------
# the bodies sent match the document


@pytest.fixture
def fake() -> FakeTransport:
    return FakeTransport(("hello", "other"))


@pytest.fixture
def api(fake) -> AppClient:
    app = create_app(AsyncClient(fake), EngineConfig(), tokens=(TokenSpec(TOKEN, (ACCOUNT,)),))
    return AppClient(app, headers={"Authorization": f"Bearer {TOKEN}"})


def conforms(response: httpx.Response, template: str, method: str) -> None:
    """``response``'s body is valid against the schema declared for its status."""
    responses = DOC["paths"][PREFIX + template][method]["responses"]
    status = str(response.status_code)
    declared = responses.get(status) or responses[f"{status[0]}XX"]
    schema = {**body_schema(declared), "components": DOC["components"]}
    errors = [e.message for e in Draft202012Validator(schema).iter_errors(response.json())]
    assert not errors, (method, template, status, errors[:3])


def test_the_bodies_the_gateway_sends_are_those_its_document_describes(api, fake):
    base = f"/client/v4/accounts/{ACCOUNT}/workflows"
    sent = [
        (api.get(base), "", "get"),
        (api.get(f"{base}/hello"), "/{workflow_name}", "get"),
        (api.get(f"{base}/nope"), "/{workflow_name}", "get"),
        (
            api.post(f"{base}/hello/instances", json={"instance_id": "i1", "params": [1]}),
            "/{workflow_name}/instances",
            "post",
        ),
        (
            api.post(f"{base}/hello/instances", json={"instance_id": "i1"}),
            "/{workflow_name}/instances",
            "post",
        ),
        (
            api.post(f"{base}/hello/instances/batch", json=[{"instance_id": "b1"}, {}]),
            "/{workflow_name}/instances/batch",
            "post",
        ),
    ]
    now = time.time()
    fake.steps[("hello", "i1")] = steps_fixture(now)
    fake.set_status("hello", "i1", "running", started_at=now, wake_at=now + 60)
    one = "/{workflow_name}/instances/{instance_id}"
    sent += [
        (
            api.get(f"{base}/hello/instances", params={"per_page": 1}),
            "/{workflow_name}/instances",
            "get",
        ),
        (api.get(f"{base}/hello/instances/i1"), one, "get"),
        (api.get(f"{base}/hello/instances/i1", params={"order": "desc"}), one, "get"),
        (api.get(f"{base}/hello/instances/zz"), one, "get"),
        (api.get(f"{base}/hello/instances/i1/status"), one + "/status", "get"),
        (
            api.get(f"{base}/hello/instances/i1/step", params={"name": "fetch", "type": "step"}),
            one + "/step",
            "get",
        ),
        (
            api.get(
                f"{base}/hello/instances/i1/step",
                params={"name": "approval", "type": "waitForEvent"},
            ),
            one + "/step",
            "get",
        ),
        (
            api.get(f"{base}/hello/instances/i1/step", params={"name": "x", "type": "step"}),
            one + "/step",
            "get",
        ),
        (
            api.post(f"{base}/hello/instances/i1/events/go", json={"a": 1}),
            one + "/events/{event_type}",
            "post",
        ),
        (
            api.patch(f"{base}/hello/instances/i1/status", json={"status": "terminate"}),
            one + "/status",
            "patch",
        ),
    ]
    fake.fail["create"] = QueueFull("the queue is full")
    sent += [
        (api.post(f"{base}/hello/instances", json={}), "/{workflow_name}/instances", "post"),
        (
            api.patch(f"{base}/hello/instances/i1/status", json={"status": "terminate"}),
            one + "/status",
            "patch",
        ),
        (api.post(f"{base}/hello/instances/i1/events/go"), one + "/events/{event_type}", "post"),
        (api.request("DELETE", f"{base}/other"), "/{workflow_name}", "delete"),
    ]
    statuses = {response.status_code for response, _, _ in sent}
    assert {200, 201, 404, 409, 429} <= statuses
    for response, template, method in sent:
        conforms(response, template, method)


def test_a_body_that_breaks_the_document_is_caught(api):
    """The conformance check can fail: a list body against the single-workflow schema."""
    listing = api.get(f"/client/v4/accounts/{ACCOUNT}/workflows")
    with pytest.raises(AssertionError):
        conforms(listing, "/{workflow_name}", "get")
