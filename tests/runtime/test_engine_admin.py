"""Joining a running engine, configuration from pyflow.toml, limits and retention."""

from __future__ import annotations

import dataclasses
import time

import pytest
import ray

from pyflow_actors import Client, start_local
from pyflow_actors.errors import ConfigError, CreationRateLimited, QueueFull
from pyflow_actors.storage.history import history_store
from tests.conftest import wait_for

pytestmark = pytest.mark.ray


@pytest.fixture
def reconfigure(engine):
    """Change engine settings for one test, then restore them."""

    def apply(**changes):
        ray.get(engine.supervisor.configure.remote(dataclasses.replace(engine.config, **changes)))

    yield apply
    ray.get(engine.supervisor.configure.remote(engine.config))


def test_client_connect_joins_the_engine_in_this_cluster(engine):
    with Client.connect() as client:
        names = {w.name for w in client.workflows()}
        assert {"echo", "ledger", "waiter"} <= names
        assert client.workflow("echo").create(params=7).wait(30).output["echo"] == 7


def test_start_local_with_a_toml_joins_and_registers_workflows(engine, engine_storage, tmp_path):
    (tmp_path / "extra_flows.py").write_text(
        "from pyflow_actors import WorkflowEntrypoint\n"
        "class Double(WorkflowEntrypoint):\n"
        "    async def run(self, event, step):\n"
        "        return await step.do('double')(lambda: event['payload'] * 2)\n"
    )
    (tmp_path / "pyflow.toml").write_text(
        f"""
[[workflows]]
name = "double"
binding = "DOUBLE"
class_name = "extra_flows:Double"

[engine]
storage = "{engine_storage}"
max_running = 16
hibernate_after = "1 second"
"""
    )
    joined = start_local(tmp_path / "pyflow.toml")
    try:
        assert joined.client.workflow("DOUBLE").create(params=21).wait(30).output == 42
        # The session's workflows are still there.
        assert engine.client.workflow("echo").create(params=1).wait(30).output["echo"] == 1
    finally:
        joined.client.close()  # joined, not started: Ray keeps running
    assert ray.is_initialized()


def test_joining_with_another_storage_is_refused(engine, tmp_path):
    with pytest.raises(ConfigError, match="uses storage"):
        start_local(storage=str(tmp_path / "elsewhere"))


def test_creation_rate_limit_refuses_without_half_creating(engine, reconfigure):
    reconfigure(creation_rate=1, creation_burst=3)
    echo = engine.client.workflow("echo")
    stamp = time.time_ns()
    with pytest.raises(CreationRateLimited, match="per second"):
        echo.create_batch([{"id": f"rate-{i}-{stamp}"} for i in range(5)])
    with pytest.raises(Exception, match="does not exist"):
        echo.get(f"rate-0-{stamp}")  # nothing of the refused batch exists
    assert len(echo.create_batch([{"id": f"ok-{i}-{stamp}"} for i in range(3)])) == 3


def test_queue_limit_refuses_creates(engine, reconfigure):
    reconfigure(max_queued=0)
    with pytest.raises(QueueFull, match="limit is 0"):
        engine.client.workflow("echo").create()


def test_per_workflow_limit(engine, ledger):
    from pyflow_actors.config import WorkflowSpec
    from tests.workflows import Timed

    spec = WorkflowSpec.of("timed-one", Timed, max_running=1)
    ray.get(engine.supervisor.configure.remote(engine.config.with_workflows(spec)))
    timed = engine.client.workflow("timed-one")
    instances = [timed.create(params={"ledger": ledger, "seconds": 0.4}) for _ in range(3)]
    seen_running = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        seen_running.append(timed.list(status="running").total)  # one atomic read
        if timed.list(status="complete").total == 3:
            break
        time.sleep(0.05)
    assert max(seen_running) == 1
    assert [i.status().status.value for i in instances] == ["complete"] * 3


def test_retention_purges_finished_instances_and_their_journals(engine, engine_storage):
    instance = engine.client.workflow("echo").create(params="old")
    status = instance.wait(30)
    journal = engine_storage / "journals" / "echo" / f"{instance.id}.duckdb"
    history = history_store(engine_storage, read_only=True)

    def folded() -> bool:
        with history.session() as session:
            return session.view("echo", instance.id) is not None

    wait_for(lambda: not journal.exists() and folded(), 30)  # folded once finished
    later = status.ended_at + engine.config.retention + 0.001
    purged = ray.get(engine.supervisor.purge_expired.remote(later))
    assert purged >= 1
    assert not journal.exists() and not folded()
    with pytest.raises(Exception, match="does not exist"):
        engine.client.workflow("echo").get(instance.id)
    wait_for(lambda: engine.client.workflow("echo").create(id=instance.id, params="new"), 5)
