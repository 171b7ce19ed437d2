"""The version graph of real workflows: the examples, the shared test workflows and
the benchmark workflows, exact; their shape against the cloudflare SDK's model;
errors; and what the graph package imports."""

from __future__ import annotations

import pytest
from cloudflare.types.workflows import VersionGraphResponse

from benchmarks.workflows import Mixed, Sleeper
from examples.fanout import Fanout
from examples.hello import Hello
from examples.onboarding import Onboarding
from pyflow_actors import WorkflowEntrypoint
from pyflow_actors.errors import WorkflowSourceUnavailable
from pyflow_actors.graph import graph_from_source, workflow_graph
from tests.unit.test_graph import block, do, sleep, wait
from tests.workflows import Collector, Echo, Flaky


def test_examples_and_shared_workflows_have_the_expected_graphs():
    hello = workflow_graph(Hello)
    assert hello["version"] == 1
    assert hello["workflow"]["class_name"] == "Hello"
    assert hello["workflow"]["nodes"] == [do("greet"), sleep("let it sink in", "2 seconds")]
    assert workflow_graph(Echo)["workflow"]["nodes"] == [do("echo")]
    # limit is p.get("limit", 3): not in the source, so the default shows
    assert workflow_graph(Flaky)["workflow"]["nodes"] == [
        do(
            "flaky",
            {
                "retries": {"limit": 5, "delay": "0.05 seconds", "backoff": "constant"},
                "timeout": "10 minutes",
            },
        )
    ]
    assert workflow_graph(Collector)["workflow"]["nodes"] == [
        {"type": "loop", "nodes": [wait("item", "p.get('type', 'item')", "300 seconds")]},
        {"type": "if", "branches": [{"condition": "p.get('ledger')", "nodes": [do("record")]}]},
    ]
    assert workflow_graph(Onboarding)["workflow"] == {
        "type": "start",
        "class_name": "Onboarding",
        "functions": {},
        "nodes": [
            do(
                "create account",
                {
                    "retries": {"limit": 3, "delay": "1 second", "backoff": "exponential"},
                    "timeout": "30 seconds",
                },
            ),
            do("send welcome email"),
            sleep("give them a moment", "3 seconds"),
            {
                "type": "try",
                "try_block": block(wait("wait for approval", "approved", "1 hour")),
                "catch_block": block({"type": "break", "kind": "return"}),
                "finally_block": None,
            },
            do("activate"),
        ],
        "payload": {"type": "object", "fields": {"email": {"type": "unknown"}}},
    }
    assert workflow_graph(Mixed)["workflow"]["nodes"] == [
        do("cpu 1"),
        {
            "type": "if",
            "branches": [
                {"condition": "p['kind'] == 'sleep'", "nodes": [sleep("sleep", "p['sleep']")]},
                {"condition": "p['kind'] == 'wait'", "nodes": [wait("wait", "go", "1 hour")]},
            ],
        },
        do("cpu 2"),
    ]
    assert workflow_graph(Sleeper)["workflow"]["nodes"] == [
        do("before"),
        {
            "type": "step_sleep_until",
            "name": "nap",
            "timestamp": "float(event['payload']['until'])",
        },
        do("woke"),
    ]
    fanout = workflow_graph(Fanout)["workflow"]
    assert fanout["nodes"] == [
        {
            "type": "parallel",
            "kind": "all",
            "nodes": [{"type": "loop", "nodes": [{"type": "function_call", "name": "fetch"}]}],
        },
        do("greet each"),
    ]
    assert fanout["functions"]["fetch"]["nodes"] == [do("fetch {url}")]


@pytest.mark.parametrize("cls", [Hello, Onboarding, Fanout, Collector, Flaky, Echo])
def test_graphs_validate_against_the_cloudflare_sdk_model(cls):
    response = VersionGraphResponse.model_validate(
        {
            "id": "v",
            "class_name": cls.__name__,
            "created_on": "2026-01-01T00:00:00Z",
            "modified_on": "2026-01-01T00:00:00Z",
            "workflow_id": "w",
            "graph": workflow_graph(cls),
        }
    )
    assert response.graph is not None and response.graph.workflow.class_name == cls.__name__
    assert len(response.graph.workflow.nodes) == len(workflow_graph(cls)["workflow"]["nodes"])


def test_missing_class_run_or_unparsable_source_is_a_clear_error():
    with pytest.raises(WorkflowSourceUnavailable, match="class 'Nope' is not defined"):
        graph_from_source("class W: pass", "Nope")
    with pytest.raises(WorkflowSourceUnavailable, match="has no run"):
        graph_from_source("class W: pass", "W")
    with pytest.raises(WorkflowSourceUnavailable, match="does not parse"):
        graph_from_source("class W(:", "W")


def test_the_graph_package_imports_no_ray_duckdb_web_or_terminal_stack():
    from tests.unit.test_architecture import imported_after

    loaded = imported_after("pyflow_actors.graph")
    assert not loaded & {"ray", "duckdb", "fastapi", "httpx", "starlette", "typer", "rich"}


def test_a_class_defined_in_a_function_is_told_apart_from_others_of_its_name():
    def make_first():
        class W(WorkflowEntrypoint):
            async def run(self, event, step):
                await step.sleep("first", 1)

        return W

    def make_second():
        class W(WorkflowEntrypoint):
            async def run(self, event, step):
                await step.sleep("second", 2)

        return W

    assert workflow_graph(make_first())["workflow"]["nodes"] == [sleep("first", "1 second")]
    assert workflow_graph(make_second())["workflow"]["nodes"] == [sleep("second", "2 seconds")]
