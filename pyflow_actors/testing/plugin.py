"""The pytest plugin (entry point ``pytest11: pyflow``): the ``workflow_harness`` fixture.

The fixture is an in-process :class:`~pyflow_actors.testing.WorkflowHarness`
unless the test is marked ``@pytest.mark.pyflow_engine("ray")`` or pytest runs
with ``--pyflow-engine=ray``: then the same test runs on a local Ray engine
(:class:`~pyflow_actors.testing.ray_engine.RayHarness`). The fixture is async:
mark the tests ``@pytest.mark.anyio`` (anyio comes with pyflow-actors) or use
pytest-asyncio.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

ENGINES = ("inprocess", "ray")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.getgroup("pyflow").addoption(
        "--pyflow-engine",
        choices=ENGINES,
        default=None,
        help="engine of every workflow_harness test: inprocess (default) or ray",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "pyflow_engine(name): run this test's workflow_harness on 'inprocess' (default) or 'ray'",
    )


def harness_engine(request: pytest.FixtureRequest) -> str:
    """The engine a test asked for: its marker, else ``--pyflow-engine``, else in-process."""
    marker = request.node.get_closest_marker("pyflow_engine")
    engine = (
        marker.args[0]
        if marker and marker.args
        else request.config.getoption("--pyflow-engine", default=None)
    )
    engine = engine or "inprocess"
    if engine not in ENGINES:
        raise pytest.UsageError(f"pyflow_engine {engine!r} is unknown: use one of {ENGINES}")
    return str(engine)


@pytest.fixture
async def workflow_harness(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Any]:
    """A harness to start workflows in; every run still going is stopped afterwards."""
    harness: Any
    if harness_engine(request) == "ray":
        from .ray_engine import RayHarness

        harness = RayHarness(tmp_path / "pyflow")
    else:
        from .harness import WorkflowHarness

        harness = WorkflowHarness()
    try:
        yield harness
    finally:
        await harness.aclose()
