"""One local Ray and one engine for the whole test session.

The session's engine runs with the test-only clock knob
(``PYFLOW_TEST_CLOCK_OFFSET_FILE``, engine/clock.py) pointed at a file holding
0: ``engine_clock`` moves the engine's clock forward for one test (a cron fire
seconds away instead of up to a minute), and back to the machine's after it.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pyflow_actors.engine.clock import OFFSET_REFRESH
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
def clock_offset_file(tmp_path_factory) -> Path:
    """The session engine's clock offset (seconds ahead of the machine's): 0 but in one test."""
    path = tmp_path_factory.mktemp("clock") / "offset"
    path.write_text("0")
    return path


class EngineClock:
    """The session engine's clock, moved from a test through its offset file.

    Only forward: ``advance_to`` never moves the engine's time backwards (a
    schedule's recorded fire stays in the past); the fixture puts the offset
    back to 0 after the test.
    """

    def __init__(self, offset_file: Path) -> None:
        self.offset_file = offset_file

    def offset(self) -> float:
        return float(self.offset_file.read_text() or 0)

    def now(self) -> float:
        """The engine's time (epoch seconds)."""
        return time.time() + self.offset()

    def advance_to(self, when: float) -> None:
        """Move the engine's time to ``when`` if it is still ahead."""
        if when > self.now():
            staged = self.offset_file.with_suffix(".new")  # engines never read half a number
            staged.write_text(repr(when - time.time()))
            staged.replace(self.offset_file)
            time.sleep(OFFSET_REFRESH + 0.05)  # every engine process has read it after this

    def advance_to_next_minute(self, lead: float) -> float:
        """Move the engine's time to ``lead`` seconds before the next minute at least
        ``lead`` seconds away (always forward); that minute, epoch seconds."""
        minute = (int(self.now() + lead) // 60 + 1) * 60
        self.advance_to(minute - lead)
        return float(minute)


@pytest.fixture
def engine_clock(clock_offset_file) -> Iterator[EngineClock]:
    """Moves the clock of the engines on the session's Ray (supervisors and instances)
    for this test; an engine that started that Ray must do so ``with_clock_knob``."""
    yield EngineClock(clock_offset_file)
    clock_offset_file.write_text("0")


@contextlib.contextmanager
def with_clock_knob(offset_file: Path) -> Iterator[None]:
    """Start Ray (``start_local``) inside this: its workers read ``offset_file``."""
    from pyflow_actors.engine.clock import CLOCK_OFFSET_ENV

    os.environ[CLOCK_OFFSET_ENV] = str(offset_file)  # inherited by Ray's workers
    try:
        yield
    finally:
        del os.environ[CLOCK_OFFSET_ENV]  # never by the processes tests start themselves


@pytest.fixture(scope="session")
def engine(engine_storage, clock_offset_file):
    from pyflow_actors.config import EngineConfig, WorkflowSpec
    from pyflow_actors.runtime.local import start_local

    config = EngineConfig(
        storage=engine_storage,
        hibernate_after=1.0,
        max_running=16,
        worker_stock=2,  # 2 whatever the machine (the default: one per core)
        vars={"GREETING": "hi"},
        workflows=tuple(WorkflowSpec.of(name, cls) for name, cls in TEST_WORKFLOWS.items())
        + tuple(  # the same workflows, placed on shared hosts
            WorkflowSpec.of(name + SHARED, cls, placement="shared")
            for name, cls in TEST_WORKFLOWS.items()
        ),
    )
    with with_clock_knob(clock_offset_file):
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
