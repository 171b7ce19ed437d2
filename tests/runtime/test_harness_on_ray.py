"""One harness test, run in-process and on a local Ray engine by switching the fixture."""

from __future__ import annotations

import pytest

from examples.hello import Hello
from pyflow_actors.testing.harness import WorkflowHarness
from pyflow_actors.testing.ray_engine import RayHarness

pytestmark = [pytest.mark.ray, pytest.mark.anyio]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.parametrize(
    "engine",
    [
        pytest.param(WorkflowHarness, id="inprocess"),
        pytest.param(RayHarness, id="ray", marks=pytest.mark.pyflow_engine("ray")),
    ],
)
async def test_hello_runs_the_same_on_both_engines(workflow_harness, engine):
    assert type(workflow_harness) is engine
    workflow_harness.vars["GREETING"] = "Hi"
    run = await workflow_harness.start(Hello, params={"name": "Ray"}, id="same-test")
    assert await run.wait_for_step("greet") == "Hi, Ray!"
    status = await run.wait_for_status("complete")
    assert status.output == "Hi, Ray!"
    assert [(s.name, s.type) for s in await run.steps()] == [
        ("greet", "step"),
        ("let it sink in", "sleep"),
    ]
