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
}


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
        workflows=tuple(WorkflowSpec.of(name, cls) for name, cls in TEST_WORKFLOWS.items()),
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
