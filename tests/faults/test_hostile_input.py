"""Hostile input at every door: fuzzing from the OpenAPI schema, oversize and deep
bodies, hostile step outputs, invalid durations, unicode and path-traversal ids,
floods of events and of creates. The engine keeps serving and loses nothing it accepted.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
import ray
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import (
    response_schema_conformance,
    status_code_conformance,
)

from pyflow_actors.config import EngineConfig, TokenSpec, WorkflowSpec
from pyflow_actors.errors import CreationRateLimited, PayloadTooLarge, QueueFull
from service import create_app
from tests.conftest import wait_for
from tests.faults.conftest import ACCOUNT, TOKEN, record_figures
from tests.workflows import Echo

pytestmark = [pytest.mark.ray, pytest.mark.timeout(180)]

# The schema the gateway serves; it does not depend on the engine behind it.
SCHEMA = schemathesis.openapi.from_dict(
    create_app(None, EngineConfig(), tokens=(TokenSpec("x", ("x",)),)).openapi()  # type: ignore[arg-type]
)
FUZZED = "fuzzed"  # a workflow whose instances stay queued: fuzzing starts no actor
FUZZ_CALLS = {"calls": 0, "5xx": 0}


@contextlib.contextmanager
def held_workflow(engine, name: str) -> Iterator[str]:
    """Register ``name`` with max_running = 0 (its instances are accepted, never run)."""
    spec = WorkflowSpec.of(name, Echo, max_running=0)
    ray.get(engine.supervisor.configure.remote(engine.config.with_workflows(spec)))
    try:
        yield name
    finally:
        ray.get(engine.supervisor.configure.remote(engine.config))
        with contextlib.suppress(Exception):
            ray.get(engine.supervisor.delete_workflow.remote(name))


@pytest.fixture(scope="module")
def fuzz_target(engine, fault_gateway) -> Iterator[str]:
    with held_workflow(engine, FUZZED):
        yield fault_gateway
    record_figures(
        "schemathesis fuzzing of the gateway",
        operations=len(list(SCHEMA.get_all_operations())),
        requests=FUZZ_CALLS["calls"],
        server_errors=FUZZ_CALLS["5xx"],
        lost=0,
    )


@SCHEMA.parametrize()
@settings(
    max_examples=12,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_fuzzed_requests_never_get_a_server_error(case, fuzz_target):
    # Our account (others are refused before anything else is looked at), and
    # our workflow so that the fuzzing reaches the engine; DELETE keeps its random name.
    case.path_parameters = {**(case.path_parameters or {}), "account_id": ACCOUNT}
    if case.method.upper() != "DELETE" and "workflow_name" in case.path_parameters:
        case.path_parameters["workflow_name"] = FUZZED
    response = case.call(base_url=fuzz_target, headers={"Authorization": f"Bearer {TOKEN}"})
    FUZZ_CALLS["calls"] += 1
    if response.status_code >= 500:
        FUZZ_CALLS["5xx"] += 1
    assert response.status_code < 500, (
        case.method,
        case.path,
        case.path_parameters,
        response.text[:500],
    )
    body = response.json()
    assert set(body) >= {"success", "errors", "result"}
    assert body["success"] == (response.status_code < 400)
    # The status is one the operation declares, and the body has its declared shape.
    case.validate_response(response, checks=[status_code_conformance, response_schema_conformance])


# ---------------------------------------------------------------------------
# hand-made hostile requests


def _error(response: httpx.Response) -> str:
    body = response.json()
    assert body["success"] is False and body["result"] is None
    return body["errors"][0]["message"].split(":")[0]


def test_oversize_and_deep_bodies_are_refused_with_4xx(api):
    huge = "x" * ((1 << 20) + 10)
    answer = api.post("/echo/instances", json={"params": huge})
    assert answer.status_code == 413 and _error(answer) == PayloadTooLarge.code
    answer = api.post("/echo/instances/none/events/go", json=huge)
    assert answer.status_code in (404, 413)  # no such instance, or too large first
    # A body that declares more than the limit is refused before it is read.
    assert _declare_huge_body(api) == 413
    for depth in (5000, 100_000):
        deep = "[" * depth + "]" * depth
        answer = api.post(
            "/echo/instances",
            content=f'{{"params": {deep}}}',
            headers={"Content-Type": "application/json"},
        )
        assert answer.status_code == 400 and "nested too deeply" in answer.text, answer.text
    for junk in (b"\xff\xfe\x00", b"{'single': 'quotes'}", b'{"a": NaN}', b"[1, 2,"):
        answer = api.post(
            "/echo/instances", content=junk, headers={"Content-Type": "application/json"}
        )
        assert answer.status_code == 400, (junk, answer.text)
    assert api.get("/echo").status_code == 200  # still serving


def _declare_huge_body(api: httpx.Client) -> int:
    """POST with ``Content-Length: 10**12`` and send two bytes (httpx will not)."""
    url = api.base_url.join("echo/instances")
    request = (
        f"POST {url.raw_path.decode()} HTTP/1.1\r\nHost: {url.host}\r\n"
        f"Authorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {10**12}\r\n\r\n{{}}"
    )
    with socket.create_connection((url.host, url.port), timeout=30) as sock:
        sock.sendall(request.encode())
        status_line = sock.makefile("rb").readline().decode()
    return int(status_line.split()[1])


HOSTILE_IDS = [
    "../../../../etc/passwd",
    "..",
    ".",
    "a/b",
    "a\\b",
    "%2e%2e%2fescape",
    "instance\u0000nul",
    "ünïcödé",
    "😀",
    "a" * 101,
    "-leading-dash",
    " ",
    "a b",
    "a.b",
    "\u202eevil",
]


def test_unicode_and_path_traversal_ids_are_refused_and_touch_no_file(api, engine):
    storage = Path(engine.config.storage)
    before = {p for p in storage.parent.rglob("*")} if storage.parent.is_dir() else set()
    refused = 0
    for bad in HOSTILE_IDS:
        answer = api.post("/echo/instances", json={"instance_id": bad, "params": 1})
        assert answer.status_code == 400, (bad, answer.text)
        assert _error(answer) in ("instance.invalid_id", "validation.invalid"), answer.text
        refused += 1
        path = quote(bad, safe="").replace(".", "%2E")  # no client-side ".." folding
        for method, url in [
            ("GET", f"/echo/instances/{path}"),
            ("GET", f"/echo/instances/{path}/status"),
            ("PATCH", f"/echo/instances/{path}/status"),
            ("POST", f"/echo/instances/{path}/events/go"),
            ("POST", f"/echo/instances/x/events/{path}"),
        ]:
            kwargs = {"json": {"status": "pause"}} if method == "PATCH" else {"json": 1}
            answer = api.request(method, url, **kwargs)
            assert 400 <= answer.status_code < 500, (method, url, answer.text)
    after = {p for p in storage.parent.rglob("*")}
    escaped = [p for p in after - before if storage not in p.parents and p != storage]
    assert escaped == [], escaped
    assert not list(storage.rglob("*passwd*")) and not list(storage.rglob("*escape*"))
    record_figures("hostile ids", ids=len(HOSTILE_IDS), refused=refused, lost=0)


HOSTILE_RUNS = {
    "huge": ({"kind": "huge"}, "StepOutputError", "bytes"),
    "object": ({"kind": "object"}, "StepOutputError", "not JSON-serializable"),
    "nan": ({"kind": "nan"}, "StepOutputError", "not JSON-serializable"),
    "deep": ({"kind": "deep"}, "StepOutputError", "nested too deeply"),
    "huge-result": ({"kind": "huge-result"}, "PayloadTooLarge", "limit"),
    "forever": ({"kind": "sleep", "duration": "forever"}, "InvalidDuration", "forever"),
    "negative": ({"kind": "sleep", "duration": "-5 seconds"}, "InvalidDuration", "-5"),
    "400d": ({"kind": "sleep", "duration": "400 days"}, "ValidationError", "too long"),
    "list": ({"kind": "sleep", "duration": [1, 2]}, "InvalidDuration", "type list"),
}


def test_hostile_step_outputs_and_durations_error_that_instance_clearly(placed_client):
    producer = placed_client.workflow("maker")
    started = time.monotonic()
    instances = {
        case: producer.create(params=params) for case, (params, _, _) in HOSTILE_RUNS.items()
    }
    fine = producer.create(params={"kind": "set"})  # served alongside: a set is dumped sorted
    for case, instance in instances.items():
        _, error_name, says = HOSTILE_RUNS[case]
        info = instance.wait(30)
        assert info.status.value == "errored", (case, info)
        assert (info.error.name, says in info.error.message) == (error_name, True), (case, info)
    assert fine.wait(30).output == [1, 2]
    # Failed at once: an output that cannot be journaled is not retried.
    assert time.monotonic() - started < 25
    record_figures(
        f"hostile step outputs and durations ({placed_client.placement})",
        instances=len(instances) + 1,
        lost=0,
    )


def test_a_flood_of_events_to_one_instance_is_delivered_exactly_once(placed_client, fault_gateway):
    client = placed_client
    n, senders = 200, 8
    instance_id = f"flood-{uuid.uuid4().hex[:6]}"
    workflow = client.workflow("gather").create(id=instance_id, params={"n": n}).workflow
    codes: list[int] = []

    def send(start: int) -> None:
        with httpx.Client(
            base_url=f"{fault_gateway}/client/v4/accounts/{ACCOUNT}/workflows",
            headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=60,
        ) as http:
            for k in range(start, n, senders):
                url = f"/{workflow}/instances/{instance_id}/events/item"
                codes.append(http.post(url, json={"k": k}).status_code)

    threads = [threading.Thread(target=send, args=(s,)) for s in range(senders)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(90)
    assert codes == [200] * n
    info = client.workflow("gather").get(instance_id).wait(90)
    got = sorted(e["k"] for e in info.output)
    record_figures(
        f"flood of events to one instance ({client.placement})",
        instances=1,
        events_accepted=codes.count(200),
        events_delivered=len(got),
        lost=n - len(set(got)),
        duplicated=len(got) - len(set(got)),
        seconds=round(time.monotonic() - started, 1),
    )
    assert got == list(range(n))


def test_a_flood_of_creates_past_rate_and_queue_limits_is_refused_cleanly(engine, api):
    name = f"held-{uuid.uuid4().hex[:6]}"
    queued = engine.stats()["by_status"].get("queued", 0)
    room = 15
    limited = replace(engine.config, creation_rate=5.0, creation_burst=10, max_queued=queued + room)
    with held_workflow(engine, name):
        ray.get(engine.supervisor.configure.remote(limited))
        try:
            answers: dict[str, int] = {}

            def flood(worker: int) -> None:
                for k in range(20):
                    instance_id = f"f{worker}-{k}"
                    body = {"instance_id": instance_id, "params": {"k": k}}
                    answers[instance_id] = api.post(f"/{name}/instances", json=body).status_code

            threads = [threading.Thread(target=flood, args=(w,)) for w in range(4)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(60)
            accepted = [i for i, code in answers.items() if code == 201]
            refused = [i for i, code in answers.items() if code == 429]
            assert len(accepted) + len(refused) == len(answers) == 80, answers
            assert 0 < len(accepted) <= room and refused
            batch = [{"instance_id": f"b-{k}", "params": k} for k in range(room + 1)]
            answer = api.post(f"/{name}/instances/batch", json=batch)
            assert answer.status_code == 429
            assert _error(answer) in (QueueFull.code, CreationRateLimited.code)
            # Nothing half-created: every accepted one is there, no refused one is.
            listed = api.get(f"/{name}/instances", params={"per_page": 1000}).json()["result"]
            assert sorted(i["id"] for i in listed) == sorted(accepted)
            assert all(i["status"] == "queued" for i in listed)
            assert api.get(f"/{name}/instances/{refused[0]}").status_code == 404
            assert api.get(f"/{name}/instances/b-0").status_code == 404
        finally:
            ray.get(engine.supervisor.configure.remote(engine.config))
    # The engine serves on at its normal limits.
    wait_for(lambda: api.post("/echo/instances", json={"params": 1}).status_code == 201, 10)
    record_figures(
        "flood of creates past rate and queue limits",
        creates=len(answers),
        accepted=len(accepted),
        refused_429=len(refused),
        lost=0,
    )


def test_a_flood_of_events_while_the_instance_starts_does_not_stall_it(engine):
    """200 events sent at once to a hibernated instance: the first wakes it, the others
    arrive while its new actor is still starting (its journal not open yet). All are
    consumed, once each."""
    n = 200
    instance_id = f"flood-start-{uuid.uuid4().hex[:6]}"

    async def flood() -> list[int]:
        client = await engine.async_client()
        gather = client.workflow("gather")
        instance = await gather.create(id=instance_id, params={"n": n})
        deadline = time.monotonic() + 30
        while (await instance.status()).status.value != "waiting":  # hibernated
            assert time.monotonic() < deadline
            await asyncio.sleep(0.1)
        await asyncio.gather(*(instance.send_event("item", k) for k in range(n)))
        info = await instance.wait(60)
        assert info.status.value == "complete", info
        return info.output

    got = asyncio.run(flood())
    assert sorted(got) == list(range(n))
