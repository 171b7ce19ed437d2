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
# GraphQL answers GraphQL's own shape ({data, errors}); subscribe streams
# server-sent events: neither is an envelope.
NOT_ENVELOPES = ("/client/v4/graphql", "/subscribe")
OPERATIONS = [
    (path, method, operation)
    for path, methods in DOC["paths"].items()
    if path.startswith("/client/v4/") and not path.endswith(NOT_ENVELOPES)
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


def exchange(api: AppClient, method: str, template: str, body: Any = None, **fill: Any) -> int:
    """Send one request to the operation ``template``; check the answer against the document.

    ``fill`` gives the path parameters, and query parameters under ``params``.
    """
    params = fill.pop("params", None)
    url = (PREFIX + template).format(account_id=ACCOUNT, **fill)
    response = api.request(method.upper(), url, params=params, json=body)
    conforms(response, template, method)
    return response.status_code


def test_the_bodies_the_gateway_sends_are_those_its_document_describes(api, fake):
    hello = {"workflow_name": "hello"}
    i1 = {**hello, "instance_id": "i1"}
    one, create = "/{workflow_name}/instances/{instance_id}", "/{workflow_name}/instances"
    statuses = [
        exchange(api, "get", ""),
        exchange(api, "get", "/{workflow_name}", **hello),
        exchange(api, "get", "/{workflow_name}", workflow_name="nope"),
        exchange(api, "post", create, {"instance_id": "i1", "params": [1]}, **hello),
        exchange(api, "post", create, {"instance_id": "i1"}, **hello),
        exchange(api, "post", create + "/batch", [{"instance_id": "b1"}, {}], **hello),
    ]
    now = time.time()
    fake.steps[("hello", "i1")] = steps_fixture(now)
    fake.set_status("hello", "i1", "running", started_at=now, wake_at=now + 60)
    statuses += [
        exchange(api, "get", create, params={"per_page": 1}, **hello),
        exchange(api, "get", one, **i1),
        exchange(api, "get", one, params={"order": "desc"}, **i1),
        exchange(api, "get", one, workflow_name="hello", instance_id="zz"),
        exchange(api, "get", one + "/status", **i1),
        exchange(api, "get", one + "/step", params={"name": "fetch", "type": "step"}, **i1),
        exchange(
            api, "get", one + "/step", params={"name": "approval", "type": "waitForEvent"}, **i1
        ),
        exchange(api, "get", one + "/step", params={"name": "x", "type": "step"}, **i1),
        exchange(api, "post", one + "/events/{event_type}", {"a": 1}, event_type="go", **i1),
        exchange(api, "patch", one + "/status", {"status": "terminate"}, **i1),
        exchange(api, "patch", one + "/status", {"status": "terminate"}, **i1),
        exchange(api, "post", one + "/events/{event_type}", event_type="go", **i1),
        exchange(api, "delete", "/{workflow_name}", workflow_name="other"),
    ]
    fake.fail["create"] = QueueFull("the queue is full")
    statuses.append(exchange(api, "post", create, {}, **hello))
    assert {200, 201, 404, 409, 429} <= set(statuses)


def test_a_body_that_breaks_the_document_is_caught(api):
    """The conformance check can fail: a list body against the single-workflow schema."""
    listing = api.get(f"/client/v4/accounts/{ACCOUNT}/workflows")
    with pytest.raises(AssertionError):
        conforms(listing, "/{workflow_name}", "get")
