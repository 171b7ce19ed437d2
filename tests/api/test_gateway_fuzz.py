"""Fuzzing the gateway with schemathesis: every REST operation of the OpenAPI
document, stateful chains along its links (create -> get -> status edit ->
events -> delete), and every field of the GraphQL endpoint. No answer may be a
5xx; every REST answer is the v4 envelope and has a status and shape the
document declares.

Sized by the environment (``make test`` keeps the defaults, ``make fuzz`` runs
>= 10,000 cases): ``PYFLOW_FUZZ_EXAMPLES`` (examples per operation, default
10), ``PYFLOW_FUZZ_SCENARIOS`` (stateful scenarios, default 15). Without
``--hypothesis-seed`` the run is derandomized (the same cases every time);
``PYFLOW_FUZZ_REPORT=path.json`` writes the figures (cases, operations, 5xx, seed).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hypothesis
import pytest
import ray
import requests
import schemathesis
from graphql import get_introspection_query, graphql_sync
from hypothesis import HealthCheck, Phase, settings
from hypothesis import core as hypothesis_core
from hypothesis import strategies as st
from hypothesis.errors import FlakyStrategyDefinition
from schemathesis.specs.openapi.checks import (
    ensure_resource_availability,
    response_schema_conformance,
    status_code_conformance,
    use_after_free,
)

from pyflow_actors.config import EngineConfig, TokenSpec, WorkflowSpec
from service import create_app
from service.graphql.route import SCHEMA as GRAPHQL_SCHEMA
from tests.workflows import Echo

from .conftest import ACCOUNT, TOKEN

pytestmark = [pytest.mark.ray, pytest.mark.timeout(3600)]

EXAMPLES = int(os.environ.get("PYFLOW_FUZZ_EXAMPLES", "10"))
SCENARIOS = int(os.environ.get("PYFLOW_FUZZ_SCENARIOS", "15"))
REPORT = os.environ.get("PYFLOW_FUZZ_REPORT")
HEADERS = {"Authorization": f"Bearer {TOKEN}"}
FUZZED = "fuzzed-api"  # a workflow whose instances stay queued: fuzzing starts no actor

OPENAPI = schemathesis.openapi.from_dict(
    create_app(None, EngineConfig(), tokens=(TokenSpec("x", ("x",)),)).openapi()  # type: ignore[arg-type]
)


def _register_graphql_scalars() -> None:
    """Cloudflare's scalars, valid and not: ``string`` is often our account's tag, so
    that queries get past the account check and reach the analytics resolvers."""
    nodes = schemathesis.graphql.nodes
    text = st.text(max_size=40)
    moments = st.datetimes(
        min_value=dt.datetime(1970, 1, 2), max_value=dt.datetime(2100, 1, 1)
    ).map(lambda moment: moment.isoformat() + "Z")
    scalars = {
        "string": st.one_of(st.just(ACCOUNT), text).map(nodes.String),
        "Time": st.one_of(moments, text).map(nodes.String),
        "Date": st.one_of(st.dates().map(dt.date.isoformat), text).map(nodes.String),
        "uint64": st.integers(-(2**70), 2**70).map(nodes.Int),
        "float64": st.one_of(
            st.floats(allow_nan=False, allow_infinity=False).map(nodes.Float),
            st.integers(-(2**70), 2**70).map(nodes.Int),
        ),
    }
    for name, strategy in scalars.items():
        schemathesis.graphql.scalar(name, strategy)


_register_graphql_scalars()
GRAPHQL = schemathesis.graphql.from_dict(
    graphql_sync(GRAPHQL_SCHEMA, get_introspection_query()).formatted
)
REST_OPERATIONS = len(list(OPENAPI.get_all_operations()))
GRAPHQL_OPERATIONS = len(list(GRAPHQL.get_all_operations()))
UNEXPECTED = "unexpected server error"  # service/graphql/route.py's word for a resolver crash
CHECKS = [status_code_conformance, response_schema_conformance]

FIGURES: dict[str, Any] = {
    "cases": Counter(),  # by operation ("GET /path", "graphql Query.field", "stateful")
    "server_errors": 0,
    "statuses": Counter(),
    "stateful_calls": Counter(),  # "PATCH /.../status 200": how far the chains went
}


def _settings(examples: int) -> settings:
    # pytest's --hypothesis-seed is set before collection; derandomize would override it.
    return settings(
        max_examples=examples,
        deadline=None,
        derandomize=hypothesis_core.global_force_seed is None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )


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
def fuzz_target(engine, gateway) -> Iterator[str]:
    started = time.monotonic()
    with held_workflow(engine, FUZZED):
        yield gateway
    if REPORT:
        _write_report(Path(REPORT), time.monotonic() - started)


def _write_report(path: Path, seconds: float) -> None:
    cases: Counter[str] = FIGURES["cases"]
    seed = hypothesis_core.global_force_seed
    figures = {
        "cases": sum(cases.values()),
        "operations": REST_OPERATIONS + GRAPHQL_OPERATIONS,
        "rest_operations": REST_OPERATIONS,
        "graphql_operations": GRAPHQL_OPERATIONS,
        "methods_and_paths_called": len([name for name in cases if name != "stateful"]),
        "server_errors": FIGURES["server_errors"],
        "seed": seed if seed is not None else "derandomized",
        "examples_per_operation": EXAMPLES,
        "stateful_scenarios": SCENARIOS,
        "seconds": round(seconds, 1),
        "cases_by_operation": dict(sorted(cases.items())),
        "statuses": {str(k): v for k, v in sorted(FIGURES["statuses"].items())},
        "stateful_calls": dict(sorted(FIGURES["stateful_calls"].items())),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(figures, indent=2) + "\n")


def _aim(case: schemathesis.Case) -> None:
    """Our account (others are refused before anything is looked at), and the held
    workflow so that the fuzzing reaches the engine; a workflow DELETE keeps its random
    name (deleting the held workflow would end the run's target)."""
    params = case.path_parameters
    if params is None:
        return
    params["account_id"] = ACCOUNT
    deletes_workflow = case.method.upper() == "DELETE" and "instance_id" not in params
    if "workflow_name" in params and not deletes_workflow:
        params["workflow_name"] = FUZZED


def _call(case: schemathesis.Case, base_url: str) -> requests.Response:
    """Send ``case``; a live stream (``/subscribe``) is read up to its status line."""
    kwargs = case.as_transport_kwargs(base_url=base_url, headers=HEADERS)
    with requests.request(**kwargs, stream=True, timeout=60) as response:
        if "text/event-stream" not in response.headers.get("content-type", ""):
            response.content  # noqa: B018 - read the whole answer
        return response


def _record(label: str, response: Any, case: schemathesis.Case) -> None:
    FIGURES["cases"][label] += 1
    FIGURES["statuses"][response.status_code] += 1
    if response.status_code >= 500:
        FIGURES["server_errors"] += 1
    assert response.status_code < 500, (
        case.method,
        case.formatted_path,
        case.path_parameters,
        case.query,
        case.body,
        response.text[:500],
    )


def _check_envelope(response: requests.Response) -> None:
    if "text/event-stream" in response.headers.get("content-type", ""):
        return
    body = response.json()
    assert set(body) >= {"success", "errors", "result"}, body
    assert body["success"] == (response.status_code < 400), body


@OPENAPI.parametrize()
@_settings(EXAMPLES)
def test_fuzzed_rest_calls_never_get_a_server_error(case, fuzz_target):
    _aim(case)
    response = _call(case, fuzz_target)
    _record(f"{case.method.upper()} {case.path}", response, case)
    _check_envelope(response)
    if "text/event-stream" not in response.headers.get("content-type", ""):
        case.validate_response(response, checks=CHECKS)


@GRAPHQL.parametrize()
@_settings(EXAMPLES)
def test_fuzzed_graphql_queries_never_get_a_server_error(case, fuzz_target):
    response = case.call(base_url=f"{fuzz_target}/client/v4/graphql", headers=HEADERS, timeout=60)
    _record(f"graphql {case.operation.label}", response, case)
    body = response.json()
    # GraphQL's shape: data and/or errors, never a bare traceback; and a resolver
    # that failed unexpectedly (a server error, though the answer is a 200) is one.
    assert "data" in body or "errors" in body, body
    unexpected = [e for e in body.get("errors") or [] if e["message"].startswith(UNEXPECTED)]
    if unexpected:
        FIGURES["server_errors"] += 1
    assert not unexpected, (case.body, unexpected)


class GatewayChains(OPENAPI.as_state_machine()):  # type: ignore[misc]
    """Random walks along the document's links: what one call created, the next uses."""

    base_url = ""
    scenarios = 0

    def teardown(self) -> None:
        GatewayChains.scenarios += 1

    def before_call(self, case: schemathesis.Case) -> None:
        _aim(case)

    def call(self, case: schemathesis.Case, **kwargs: Any) -> Any:
        response = _call(case, self.base_url)
        _record("stateful", response, case)
        path = case.path.removeprefix("/client/v4/accounts/{account_id}")
        FIGURES["stateful_calls"][f"{case.method.upper()} {path} {response.status_code}"] += 1
        _check_envelope(response)
        return schemathesis.Response.from_requests(response, verify=True)

    def validate_response(self, response: Any, case: schemathesis.Case, **kwargs: Any) -> None:
        if "text/event-stream" in response.headers.get("content-type", [""])[0]:
            return
        case.validate_response(
            response, checks=[*CHECKS, use_after_free, ensure_resource_availability]
        )


def test_stateful_chains_of_calls_never_get_a_server_error(fuzz_target):
    GatewayChains.base_url = fuzz_target
    errors_before = FIGURES["server_errors"]
    base_seed = hypothesis_core.global_force_seed or 0
    # Which calls a scenario can make depends on the server's answers (an id taken
    # by an earlier scenario, a rate limit): Hypothesis calls that flaky data
    # generation. As schemathesis' own runner does, go on with a new suite (seed).
    for suite in range(50):
        remaining = SCENARIOS - GatewayChains.scenarios
        if remaining <= 0:
            break
        chains = hypothesis.seed(base_seed + suite)(GatewayChains)
        try:
            chains.run(
                settings=settings(
                    _settings(remaining),
                    derandomize=False,
                    phases=[Phase.generate],
                    stateful_step_count=10,
                )
            )
        except FlakyStrategyDefinition:
            continue
    assert GatewayChains.scenarios >= SCENARIOS
    assert FIGURES["server_errors"] == errors_before
