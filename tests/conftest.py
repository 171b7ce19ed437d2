"""One local Ray and one engine for the whole test session."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests import workflows as w

TEST_WORKFLOWS = {
    "echo": w.Echo,
    "ledger": w.Ledger,
    "waiter": w.Waiter,
    "flaky": w.Flaky,
    "parent": w.Parent,
    "timed": w.Timed,
    "gather": w.Collector,
    "maker": w.Producer,
    "blocker": w.Blocker,
    "saga": w.Saga,
}


SHARED = "-shared"  # suffix of the shared-placement copy of each test workflow


@pytest.fixture(autouse=True)
def _print_capture_undone():
    """A test that runs a workflow in this process (an in-process shared host, a
    runner) installs the instance logs' print capture; undo it after the test, so
    that the next test sees its own stdout (a later capture test saw only logging)."""
    yield
    from pyflow_actors import instance_logs

    instance_logs.uninstall()


def wait_for(predicate: Callable[[], object], timeout: float = 20.0, interval: float = 0.05):
    """Poll until predicate() is truthy; return its value or fail at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)


@pytest.fixture(scope="session")
def engine_storage(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("engine")


@pytest.fixture(scope="session")
def engine(engine_storage):
    from pyflow_actors.config import EngineConfig, WorkflowSpec
    from pyflow_actors.runtime.local import start_local

    config = EngineConfig(
        storage=engine_storage,
        hibernate_after=1.0,
        max_running=16,
        vars={"GREETING": "hi"},
        workflows=tuple(WorkflowSpec.of(name, cls) for name, cls in TEST_WORKFLOWS.items())
        + tuple(  # the same workflows, placed on shared hosts
            WorkflowSpec.of(name + SHARED, cls, placement="shared")
            for name, cls in TEST_WORKFLOWS.items()
        ),
    )
    eng = start_local(config)
    yield eng
    eng.shutdown()


@pytest.fixture
def client(engine):
    return engine.client


@pytest.fixture
def ledger(tmp_path) -> str:
    return str(tmp_path / "ledger.txt")


class PlacedClient:
    """The engine's client, with each test workflow name mapped to one placement's copy."""

    def __init__(self, client, placement: str) -> None:
        self.base, self.placement = client, placement

    def workflow(self, name: str):
        return self.base.workflow(name + SHARED if self.placement == "shared" else name)

    def __getattr__(self, name: str):
        return getattr(self.base, name)  # workflows(), close()...


@pytest.fixture(params=["dedicated", "shared"])
def placed_client(request, engine) -> PlacedClient:
    """Runs a test once per placement (behaviour must not depend on it)."""
    return PlacedClient(engine.client, request.param)


def is_live(workflow: str, instance_id: str) -> bool:
    """Whether a process holds the instance: its own actor, or a shared host."""
    import ray

    from pyflow_actors.runtime.supervisor import actor_name
    from pyflow_actors.runtime.supervisor.hosts import HOST_PREFIX

    named = ray.util.list_named_actors(all_namespaces=True)
    if any(a["name"] == actor_name(workflow, instance_id) for a in named):
        return True
    for a in named:
        if a["name"].startswith(HOST_PREFIX):
            host = ray.get_actor(a["name"], namespace=a["namespace"])
            if (workflow, instance_id) in [tuple(k) for k in ray.get(host.keys.remote())]:
                return True
    return False
