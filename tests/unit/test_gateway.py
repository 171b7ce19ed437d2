"""The gateway without Ray: REST shapes, the error envelope, auth, and the HTTP
transport's round trip, over an in-memory transport."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from cloudflare.types.workflows import (
    InstanceCreateResponse,
    InstanceGetResponse,
    InstanceListResponse,
    InstanceStepResponse,
    WorkflowGetResponse,
)
from cloudflare.types.workflows.instances import EventCreateResponse, StatusEditResponse

from pyflow_actors.client.api import AsyncClient
from pyflow_actors.client.http_transport import HttpTransport, error_from_response
from pyflow_actors.config import EngineConfig, TokenSpec, load_config
from pyflow_actors.errors import (
    ConfigError,
    CreationRateLimited,
    EngineUnavailable,
    InstanceNotFound,
    InvalidTransition,
    PyflowError,
    QueueFull,
    ValidationError,
)
from pyflow_actors.models import AttemptInfo, ErrorInfo, StepInfo
from service import create_app
from service.auth import check_bind, configured_tokens, is_loopback
from service.schemas import iso, parse_iso
from tests.fake_transport import FakeTransport


class AppClient:
    """Synchronous requests to an ASGI app in process (one event loop per request)."""

    def __init__(self, app, headers: dict[str, str] | None = None) -> None:
        self.app, self.headers = app, headers or {}

    def request(self, method: str, url: str, **kwargs) -> httpx.Response:
        headers = {**self.headers, **kwargs.pop("headers", {})}

        async def go() -> httpx.Response:
            transport = httpx.ASGITransport(self.app, raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
                return await client.request(method, url, headers=headers, **kwargs)

        return asyncio.run(go())

    def get(self, url: str, **kwargs) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs) -> httpx.Response:
        return self.request("POST", url, **kwargs)

    def patch(self, url: str, **kwargs) -> httpx.Response:
        return self.request("PATCH", url, **kwargs)

    def put(self, url: str, **kwargs) -> httpx.Response:
        return self.request("PUT", url, **kwargs)


TOKEN, ACCOUNT = "unit-token", "acme"
BASE = f"/client/v4/accounts/{ACCOUNT}/workflows"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def fake() -> FakeTransport:
    return FakeTransport(("hello", "other"))


@pytest.fixture
def api(fake) -> AppClient:
    app = create_app(
        AsyncClient(fake),
        EngineConfig(storage="/nonexistent"),
        tokens=(TokenSpec(TOKEN, (ACCOUNT,)), TokenSpec("second", ("beta",))),
    )
    return AppClient(app, headers=AUTH)


def assert_error(response: httpx.Response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["success"] is False and body["result"] is None
    [error] = body["errors"]
    assert isinstance(error["code"], int)
    assert error["message"].startswith(code + ": "), error["message"]
    assert "Traceback" not in response.text
    return error


def steps_fixture(now: float) -> list[StepInfo]:
    return [
        StepInfo(
            type="step",
            name="fetch",
            start=now,
            end=now + 1,
            finished=True,
            success=True,
            output="fetched",
            attempts=[
                AttemptInfo(
                    start=now,
                    end=now + 0.5,
                    success=False,
                    error=ErrorInfo(name="ConnectionError", message="down"),
                ),
                AttemptInfo(start=now + 0.6, end=now + 1, success=True),
            ],
            config={
                "retries": {"limit": 3, "delay": "1 second", "backoff": "linear"},
                "timeout": 30,
            },
        ),
        StepInfo(type="sleep", name="nap", start=now + 1, end=now + 2, finished=True, success=True),
        StepInfo(
            type="waitForEvent",
            name="approval",
            start=now + 2,
            end=now + 3600,
            finished=False,
            event_type="approved",
        ),
    ]


# ---------------------------------------------------------------------------
# shapes: what we render parses as the cloudflare SDK's own models


def test_rendered_shapes_validate_against_the_cloudflare_sdk_models(api, fake):
    created = api.post(f"{BASE}/hello/instances", json={"instance_id": "i1", "params": {"a": 1}})
    assert created.status_code == 201
    InstanceCreateResponse.model_validate(created.json()["result"])

    now = time.time()
    fake.steps[("hello", "i1")] = steps_fixture(now)
    fake.set_status("hello", "i1", "complete", output="done", started_at=now, ended_at=now + 3)
    got = api.get(f"{BASE}/hello/instances/i1").json()["result"]
    model = InstanceGetResponse.model_validate(got)
    assert model.status == "complete" and model.success is True and model.step_count == 3
    assert [s.type for s in model.steps] == ["step", "sleep", "waitForEvent"]
    step = model.steps[0]
    assert step.config.retries.limit == 3 and len(step.attempts) == 2
    assert step.attempts[0].error.name == "ConnectionError"
    assert step.output == '"fetched"'  # Cloudflare's step output is JSON text
    assert model.steps[2].event_type == "approved" and model.steps[2].finished is False

    listed = api.get(f"{BASE}/hello/instances").json()["result"]
    InstanceListResponse.model_validate(listed[0])
    WorkflowGetResponse.model_validate(api.get(f"{BASE}/hello").json()["result"])
    step_out = api.get(
        f"{BASE}/hello/instances/i1/step", params={"name": "fetch", "type": "step"}
    ).json()["result"]
    assert InstanceStepResponse.model_validate(step_out).output == "fetched"

    api.post(f"{BASE}/hello/instances", json={"instance_id": "i2"})
    edited = api.patch(f"{BASE}/hello/instances/i2/status", json={"status": "pause"})
    assert StatusEditResponse.model_validate(edited.json()["result"]).status == "paused"
    sent = api.post(f"{BASE}/hello/instances/i2/events/go", json={"x": 1})
    assert EventCreateResponse.model_validate(sent.json()["result"]).instance_id == "i2"
    assert fake.events == [("hello", "i2", "go", {"x": 1})]


def test_step_detail_reports_each_attempt_and_waits(api, fake):
    api.post(f"{BASE}/hello/instances", json={"instance_id": "s"})
    fake.steps[("hello", "s")] = steps_fixture(time.time())

    def step(**params):
        return api.get(f"{BASE}/hello/instances/s/step", params=params)

    first = step(name="fetch", type="step", attempt=1).json()["result"]
    assert first["status"] == "errored" and first["error"]["name"] == "ConnectionError"
    assert step(name="fetch", type="step", attempt=2).json()["result"]["status"] == "complete"
    wait = step(name="approval", type="waitForEvent").json()["result"]
    assert wait == {"status": "waiting", "error": None, "output": None, "event_type": "approved"}
    assert_error(step(name="fetch", type="step", attempt=3), 400, "validation.invalid")
    assert_error(step(name="nope", type="step"), 404, "step.not_found")
    assert_error(step(name="fetch", type="sleep"), 400, "validation.invalid")
    assert_error(step(name="fetch"), 400, "validation.invalid")


def test_termination_entry_and_step_order(api, fake):
    api.post(f"{BASE}/hello/instances", json={"instance_id": "t"})
    fake.steps[("hello", "t")] = steps_fixture(time.time())[:2]
    api.patch(f"{BASE}/hello/instances/t/status", json={"status": "terminate"})
    asc = api.get(f"{BASE}/hello/instances/t").json()["result"]
    assert [s["type"] for s in asc["steps"]] == ["step", "sleep", "termination"]
    assert asc["steps"][-1] == {"type": "termination", "trigger": {"source": "api"}}
    desc = api.get(f"{BASE}/hello/instances/t", params={"order": "desc"}).json()["result"]
    assert [s["type"] for s in desc["steps"]] == ["termination", "sleep", "step"]
    simple = api.get(f"{BASE}/hello/instances/t", params={"simple": "true"}).json()["result"]
    assert simple["steps"] == [] and simple["step_count"] == 2


def test_iso_times_round_trip_to_the_microsecond():
    t = 1738315805.123456
    assert iso(t) == "2025-01-31T09:30:05.123456Z"
    assert abs(parse_iso(iso(t), "t") - t) < 1e-6
    assert parse_iso("2025-01-31T09:30:05", "t") == parse_iso("2025-01-31T09:30:05+00:00", "t")
    with pytest.raises(ValidationError, match="ISO 8601"):
        parse_iso("yesterday", "date_start")


# ---------------------------------------------------------------------------
# lists: pages, cursors, directions


def test_list_pages_cursor_and_direction(api, fake):
    ids = [f"n{i}" for i in range(5)]
    for i in ids:
        api.post(f"{BASE}/hello/instances", json={"instance_id": i})
        time.sleep(0.002)  # distinct creation times
    page = api.get(f"{BASE}/hello/instances", params={"per_page": 2}).json()
    assert [i["id"] for i in page["result"]] == ["n4", "n3"]
    assert page["result_info"] | {"cursor": None} == {
        "page": 1,
        "per_page": 2,
        "count": 2,
        "total_count": 5,
        "total_pages": 3,
        "cursor": None,
    }
    # A cursor pins the listing: an instance created now does not shift the next pages.
    api.post(f"{BASE}/hello/instances", json={"instance_id": "late"})
    seen, cursor = [i["id"] for i in page["result"]], page["result_info"]["cursor"]
    while cursor:
        page = api.get(f"{BASE}/hello/instances", params={"cursor": cursor}).json()
        seen += [i["id"] for i in page["result"]]
        cursor = page["result_info"]["cursor"]
    assert seen == ["n4", "n3", "n2", "n1", "n0"]
    oldest = api.get(f"{BASE}/hello/instances", params={"direction": "asc", "per_page": 1})
    assert oldest.json()["result"][0]["id"] == "n0"
    assert_error(
        api.get(f"{BASE}/hello/instances", params={"cursor": "not-a-cursor"}),
        400,
        "validation.invalid",
    )
    assert_error(
        api.get(f"{BASE}/hello/instances", params={"cursor": cursor or "x", "page": 2}),
        400,
        "validation.invalid",
    )


def test_list_workflows_pages_and_search(api):
    body = api.get(BASE, params={"per_page": 1, "page": 2}).json()
    assert [w["name"] for w in body["result"]] == ["other"]
    assert body["result_info"]["total_count"] == 2
    assert [w["name"] for w in api.get(BASE, params={"search": "HEL"}).json()["result"]] == [
        "hello"
    ]
    assert api.get(BASE, params={"page": "2.0", "per_page": 1}).status_code == 200
    assert_error(api.get(BASE, params={"page": 1.5}), 400, "validation.invalid")


# ---------------------------------------------------------------------------
# errors the shared engine cannot easily produce


@pytest.mark.parametrize(
    "error,status,code",
    [
        (CreationRateLimited("too fast"), 429, "instance.creation_rate_limited"),
        (QueueFull("queue is full"), 429, "instance.queue_full"),
        (EngineUnavailable("supervisor gone"), 503, "engine.unavailable"),
    ],
)
def test_engine_limits_map_to_their_status(api, fake, error, status, code):
    fake.fail["create"] = error
    response = api.post(f"{BASE}/hello/instances", json={})
    assert_error(response, status, code)
    if status == 429:
        assert response.headers["retry-after"] == "1"


def test_an_unexpected_failure_is_a_500_envelope_without_traceback(api, fake):
    fake.fail["status"] = RuntimeError("boom in the engine")
    api.post(f"{BASE}/hello/instances", json={"instance_id": "x"})
    error = assert_error(api.get(f"{BASE}/hello/instances/x/status"), 500, "internal")
    assert "RuntimeError" in error["message"] and "boom" not in error["message"]


def test_conflicts_tell_the_cloudflare_sdk_not_to_retry(api):
    api.post(f"{BASE}/hello/instances", json={"instance_id": "dup"})
    response = api.post(f"{BASE}/hello/instances", json={"instance_id": "dup"})
    assert_error(response, 409, "instance.already_exists")
    assert response.headers["x-should-retry"] == "false"


def test_unknown_routes_and_methods_are_envelopes(api):
    assert_error(api.get("/client/v4/nothing"), 404, "not_found")
    assert_error(api.request("PATCH", f"{BASE}/hello"), 405, "request.method_not_allowed")


def test_malformed_and_oversize_bodies(api):
    url = f"{BASE}/hello/instances"
    assert_error(api.post(url, content=b"{nope"), 400, "validation.invalid")
    assert_error(api.post(url, content=b"\xff\xfe"), 400, "validation.invalid")
    assert_error(api.post(url, json=[1]), 400, "validation.invalid")
    assert_error(api.post(url, json={"instance_id": 5}), 400, "validation.invalid")
    error = assert_error(api.post(url, json={"instanceId": "x"}), 400, "validation.invalid")
    assert "allowed fields are 'instance_id', 'params'" in error["message"]
    big = b'{"params": "' + b"x" * (101 << 20) + b'"}'
    assert_error(api.post(url, content=big), 413, "validation.payload_too_large")
    assert_error(
        api.post(url, json={"params": "x" * (1 << 20)}), 413, "validation.payload_too_large"
    )
    assert_error(api.post(f"{url}/batch", json={"a": 1}), 400, "validation.invalid")
    assert_error(
        api.patch(f"{url}/x/status", json={"status": "explode"}), 400, "validation.invalid"
    )


def test_curl_without_a_content_type_still_sends_json(api):
    response = api.post(
        f"{BASE}/hello/instances",
        content=b'{"instance_id": "curl"}',
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 201 and response.json()["result"]["id"] == "curl"


# ---------------------------------------------------------------------------
# auth


def test_requests_without_a_valid_token_are_refused_before_anything_else(api):
    assert_error(api.get(BASE, headers={"Authorization": ""}), 401, "auth.unauthorized")
    response = api.get(BASE, headers={"Authorization": "Basic abc"})
    assert_error(response, 401, "auth.unauthorized")
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert_error(api.get(BASE, headers={"Authorization": "Bearer nope"}), 401, "auth.unauthorized")
    # No token: 401 even for a malformed body or a workflow that does not exist.
    bad = {"Authorization": "Bearer nope"}
    assert_error(
        api.post(f"{BASE}/missing/instances", content=b"{", headers=bad), 401, "auth.unauthorized"
    )


def test_a_token_on_an_account_it_does_not_hold_learns_nothing(api):
    other = {"Authorization": "Bearer second"}
    existing = api.get(f"{BASE}/hello", headers=other)
    missing = api.get(f"{BASE}/missing", headers=other)
    assert_error(existing, 403, "auth.forbidden")
    assert existing.json() == missing.json()
    ok = api.get("/client/v4/accounts/beta/workflows", headers=other)
    assert ok.status_code == 200


def test_health_needs_no_token(api):
    assert api.get("/health", headers={"Authorization": ""}).json()["result"] == {"status": "ok"}


def test_tokens_come_from_the_toml_and_the_environment(tmp_path):
    toml = tmp_path / "pyflow.toml"
    toml.write_text('[[tokens]]\nname = "ci"\ntoken = "from-toml"\naccounts = ["a", "b"]\n')
    config = load_config(toml)
    env = {"PYFLOW_TOKEN": "from-env", "PYFLOW_ACCOUNT": "c"}
    tokens = configured_tokens(config, env)
    assert [(t.token, t.accounts) for t in tokens] == [
        ("from-toml", ("a", "b")),
        ("from-env", ("c",)),
    ]
    assert configured_tokens(EngineConfig(), {"PYFLOW_TOKEN": "t"})[0].accounts == ("local",)
    with pytest.raises(ConfigError):
        configured_tokens(EngineConfig(tokens=(TokenSpec("t", ()),)), {})
    with pytest.raises(ConfigError, match="at least one API token"):
        create_app(AsyncClient(FakeTransport()), EngineConfig(), tokens=())


def test_create_app_reads_tokens_from_the_environment(monkeypatch):
    monkeypatch.setenv("PYFLOW_TOKEN", "env-token")
    monkeypatch.setenv("PYFLOW_ACCOUNT", "envacct")
    app = create_app(AsyncClient(FakeTransport()), EngineConfig())
    api = AppClient(app, headers={"Authorization": "Bearer env-token"})
    assert api.get("/client/v4/accounts/envacct/workflows").status_code == 200
    assert api.get("/client/v4/accounts/local/workflows").status_code == 403


def test_binding_beyond_loopback_needs_configured_tokens():
    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1")
    assert not is_loopback("0.0.0.0") and not is_loopback("10.1.2.3")
    check_bind("127.0.0.1", ())
    check_bind("0.0.0.0", (TokenSpec("t", ("a",)),))
    with pytest.raises(ConfigError, match="refusing to listen on 0.0.0.0"):
        check_bind("0.0.0.0", ())


# ---------------------------------------------------------------------------
# the HTTP transport, in process (ASGI), against the fake


def test_http_transport_round_trips_models_and_errors(fake):
    app = create_app(AsyncClient(fake), EngineConfig(), tokens=(TokenSpec(TOKEN, (ACCOUNT,)),))

    async def scenario() -> None:
        transport = HttpTransport(
            "http://gateway", token=TOKEN, account=ACCOUNT, transport=httpx.ASGITransport(app)
        )
        client = AsyncClient(transport)
        hello = client.workflow("hello")
        instance = await hello.create(id="rt", params={"a": [1, 2]})
        now = time.time()
        fake.steps[("hello", "rt")] = steps_fixture(now)
        fake.set_status("hello", "rt", "waiting", wake_at=now + 60, waiting_for=["approved"])
        status = await instance.status()
        assert status.status == "waiting" and status.waiting_for == ["approved"]
        assert abs(status.wake_at - (now + 60)) < 1e-5
        detail = await instance.describe()
        assert detail.params == {"a": [1, 2]}
        assert [s.type for s in detail.steps] == ["step", "sleep", "waitForEvent"]
        for got, want in zip(detail.steps, steps_fixture(now), strict=True):
            assert (got.name, got.finished, got.success, got.output, got.event_type) == (
                want.name,
                want.finished,
                want.success,
                want.output,
                want.event_type,
            )
        assert detail.steps[0].attempts[0].error.name == "ConnectionError"
        assert [w.name for w in await client.workflows()] == ["hello", "other"]
        info = await hello.info()
        assert info.class_name == "examples.hello:Hello" and info.binding == "HELLO"
        with pytest.raises(InstanceNotFound):
            await hello.get("missing")
        await instance.terminate()
        with pytest.raises(InvalidTransition):
            await instance.terminate()
        page = await hello.list(status="terminated")
        assert [i.id for i in page.instances] == ["rt"] and page.total == 1
        await client.close()

    asyncio.run(scenario())


def test_error_from_response_rebuilds_our_classes_or_falls_back_on_status():
    def response(status: int, message: str | None, text: str | None = None) -> httpx.Response:
        if text is not None:
            return httpx.Response(status, text=text)
        return httpx.Response(
            status, json={"success": False, "errors": [{"code": 1, "message": message}]}
        )

    err = error_from_response(response(404, "instance.not_found: no 'x'"))
    assert type(err) is InstanceNotFound and err.message == "no 'x'"
    err = error_from_response(response(400, "validation.not_serializable: bad value"))
    assert isinstance(err, ValidationError) and err.message == "bad value"
    assert type(error_from_response(response(502, None, "<html>bad gateway</html>"))) is (
        EngineUnavailable
    )
    err = error_from_response(response(500, "internal: unexpected"))
    assert type(err) is PyflowError and err.message == "unexpected"


def test_http_transport_reports_an_unreachable_gateway():
    async def scenario() -> None:
        transport = HttpTransport("http://127.0.0.1:9", token="t")
        with pytest.raises(EngineUnavailable, match="cannot reach the pyflow gateway"):
            await transport.list_workflows()
        await transport.close()

    asyncio.run(scenario())
