"""A pre-activated (held) shared instance shows one status wherever it is looked at.

Held by its host until its alarm, its row says running (as a shared instance
sleeping live without hibernating), but its status, describe, a list filtered
by status, the workflow's counts, ``stats()`` and the ``/metrics`` series all
say waiting until its alarm, then running; it holds no running slot until it
wakes. The same across a supervisor restart (adopted from its host: held
again; its host tells the new supervisor its wait) and a host's death. A
supervisor over in-process hosts (tests/unit/fake_hosts.py), no Ray.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from pyflow_actors.analytics.stats import EngineStats
from pyflow_actors.config import WorkflowSpec
from pyflow_actors.models import InstanceStatus
from pyflow_actors.runtime.host import HostedRunner, InstanceHost
from pyflow_actors.runtime.protocol import RunRequest
from service.metrics import render
from tests import workflows as w
from tests.workflows import ledger_lines

from .fake_hosts import echo_setup
from .test_shared_hosts import Harness, run, until
from .test_shared_preactivation import asleep, holder

pytestmark = pytest.mark.timeout(60)

SLEEP = 3.0  # hibernate_after is 0.2 s: it hibernates, then is taken back ~2 s before its alarm


def sleeper(ledger: str, step_seconds: float = 0.0) -> dict[str, object]:
    return {"ledger": ledger, "steps": 2, "step_seconds": step_seconds, "sleep": SLEEP}


def metric_samples(stats: dict[str, Any]) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """The ``/metrics`` text rendered from ``stats``, as (series, labels) -> value."""
    text = render(EngineStats.model_validate(stats)).decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def views(
    h: Harness, workflow: str, instance_id: str, describe: bool = True
) -> dict[str, Any]:
    """What each view says of the one instance of the table; at one instant but for
    ``describe`` (it asks the instance's host: the instance may move meanwhile)."""
    described = (await h.sup.describe(workflow, instance_id)).status.status.value
    stats = await h.sup.stats()
    listed = {
        status.value: [i.id for i in (await h.sup.list_instances(workflow, status.value)).instances]
        for status in (InstanceStatus.WAITING, InstanceStatus.RUNNING)
    }
    samples = metric_samples(stats)
    return {
        "status": (await h.sup.status(workflow, instance_id)).status.value,
        "describe": described if describe else None,
        "listed as": [s for s, ids in listed.items() if instance_id in ids],
        "workflow counts": (await h.sup.get_workflow(workflow)).instances,
        "by_status": stats["by_status"],
        "by_workflow_status": stats["by_workflow_status"][workflow],
        "metrics running": samples[("pyflow_instances_running", ())],
        "running_slots": stats["running_slots"],
    }


def agreeing(seen: dict[str, Any], status: str, slots: int) -> dict[str, Any]:
    """Every view of ``seen`` as it must be for an instance showing ``status``."""
    return {
        "status": status,
        "describe": None if seen["describe"] is None else status,
        "listed as": [status] if status in ("waiting", "running") else [],
        "workflow counts": {status: 1},
        "by_status": {status: 1},
        "by_workflow_status": {status: 1},
        "metrics running": 1.0 if status == "running" else 0.0,
        "running_slots": slots,
    }


async def shows(h: Harness, instance_id: str, status: str, within: float = 1.0) -> None:
    """The instance's status turns to ``status`` within ``within`` seconds."""
    deadline = time.monotonic() + within
    while (await h.sup.status("ledger", instance_id)).status.value != status:
        assert time.monotonic() < deadline, f"{instance_id} does not show {status}"
        await asyncio.sleep(0.01)


async def held(h: Harness, instance_id: str) -> None:
    """The instance hibernated in its sleep, then was taken back by a host, held."""
    await asleep(h, instance_id)
    await until(lambda: holder(h, ("ledger", instance_id)) and h.sup.preactive.waiting() == 1)


def test_a_held_instance_shows_waiting_everywhere_until_its_alarm_then_running(tmp_path, ledger):
    async def scenario() -> None:
        h = Harness(tmp_path)
        await h.create("ledger", "s", sleeper(ledger, step_seconds=1.0))
        await held(h, "s")
        row = h.sup.table.require("ledger", "s")
        assert row.status == InstanceStatus.RUNNING and row.wake_at is not None  # held
        seen = await views(h, "ledger", "s")
        assert seen == agreeing(seen, "waiting", slots=0)
        samples = metric_samples(await h.sup.stats())
        assert samples[("pyflow_instances_by_status", (("status", "waiting"),))] == 1
        assert samples[("pyflow_running_slots", ())] == 0
        # Its alarm: it runs its second step (1 s) in its host, and shows running.
        await until(lambda: "s step-1" in ledger_lines(ledger))
        await shows(h, "s", "running", within=0.5)
        seen = await views(h, "ledger", "s")
        assert seen == agreeing(seen, "running", slots=1)
        await h.finished("ledger", "s")
        seen = await views(h, "ledger", "s")
        assert seen == agreeing(seen, "complete", slots=0)
        assert ledger_lines(ledger) == ["s step-0", "s step-1"]
        await h.close()

    run(scenario)


def test_a_restarted_supervisor_adopts_a_held_instance_still_waiting_with_no_slot(tmp_path, ledger):
    async def scenario() -> None:
        old = Harness(tmp_path)
        await old.create("ledger", "s", sleeper(ledger))
        await held(old, "s")
        for task in old.sup._background:
            task.cancel()
        for live in old.sup.actors.live.values():
            assert live.monitor is not None
            live.monitor.cancel()
        old.sup.registry.close()  # the old supervisor is gone; its host holds "s" on

        new = Harness(tmp_path, hosts=old.hosts, max_running=1)
        await new.sup.start()
        assert ("ledger", "s") in new.sup.actors.live  # adopted, not requeued
        assert new.sup.preactive.waiting() == 1  # held again: no slot
        seen = await views(new, "ledger", "s")
        assert seen == agreeing(seen, "waiting", slots=0)
        # Its slot is free: another instance runs while it is held.
        await new.create("echo", "other", {"value": 1})
        await new.finished("echo", "other")
        await new.finished("ledger", "s")
        assert new.status("ledger", "s") == InstanceStatus.COMPLETE
        assert ledger_lines(ledger) == ["s step-0", "s step-1"]
        await new.close()

    run(scenario)


def test_a_running_instance_adopted_after_a_restart_is_not_taken_for_a_held_one(tmp_path, ledger):
    async def scenario() -> None:
        old = Harness(tmp_path)
        await old.create("ledger", "r", {"ledger": ledger, "steps": 2, "step_seconds": 0.6})
        await until(lambda: "r step-0" in ledger_lines(ledger))
        for task in old.sup._background:
            task.cancel()
        for live in old.sup.actors.live.values():
            assert live.monitor is not None
            live.monitor.cancel()
        old.sup.registry.close()

        new = Harness(tmp_path, hosts=old.hosts)
        await new.sup.start()
        assert ("ledger", "r") in new.sup.actors.live and new.sup.preactive.waiting() == 0
        seen = await views(new, "ledger", "r")
        assert seen == agreeing(seen, "running", slots=1)
        await new.finished("ledger", "r")
        await new.close()

    run(scenario)


def test_a_held_instance_whose_host_dies_shows_one_status_everywhere_and_completes(
    tmp_path, ledger
):
    async def scenario() -> None:
        h = Harness(tmp_path)
        await h.create("ledger", "s", sleeper(ledger))
        await held(h, "s")
        [host] = holder(h, ("ledger", "s"))
        await host.die()
        statuses = set()
        while h.status("ledger", "s") != InstanceStatus.COMPLETE:
            seen = await views(h, "ledger", "s", describe=False)
            slots = seen["running_slots"]
            assert seen == agreeing(seen, seen["status"], slots=slots), seen
            statuses.add(seen["status"])
            await asyncio.sleep(0.01)  # let the supervisor and the hosts move on
        assert statuses <= {"queued", "running", "waiting", "complete"}
        assert h.sup.preactive.waiting() == 0
        assert ledger_lines(ledger) == ["s step-0", "s step-1"]
        await h.close()

    run(scenario)


def test_a_held_instance_takes_a_slot_beyond_the_limit_at_its_wake_and_gives_it_back(
    tmp_path, ledger
):
    async def scenario() -> None:
        h = Harness(tmp_path, max_running=1)
        await h.create("ledger", "s", sleeper(ledger, step_seconds=1.0))
        await held(h, "s")
        # The one slot goes to "busy" (4 s) while "s" is held; "third" waits in line.
        await h.create("ledger", "busy", {"ledger": ledger, "steps": 1, "step_seconds": 4.0})
        await h.create("echo", "third", {"value": 1})
        assert h.status("echo", "third") == InstanceStatus.QUEUED
        # At its alarm "s" wakes in its host beside "busy": two slots, one over the limit.
        await until(lambda: "s step-1" in ledger_lines(ledger))
        stats = await h.sup.stats()
        assert stats["running_slots"] == 2 and stats["by_status"]["running"] == 2
        assert h.status("echo", "third") == InstanceStatus.QUEUED  # nobody else admitted
        # As soon as "s" ends the count is back within the limit; "third" waits for "busy".
        await h.finished("ledger", "s")
        stats = await h.sup.stats()
        assert stats["running_slots"] == 1 and h.status("ledger", "busy") == InstanceStatus.RUNNING
        assert h.status("echo", "third") == InstanceStatus.QUEUED
        await h.finished("echo", "third")
        assert (await h.sup.stats())["running_slots"] == 0
        await h.close()

    run(scenario)


def test_a_host_tells_an_adopting_supervisor_again_what_a_run_in_progress_waits_for(
    tmp_path, monkeypatch
):
    told: list[tuple[str, dict[str, Any]]] = []

    async def tell(self: HostedRunner, method: str, **details: Any) -> None:
        told.append((method, details))

    monkeypatch.setattr(HostedRunner, "_tell", tell)

    async def scenario() -> None:
        host = InstanceHost("h")
        setup = dataclasses.replace(
            echo_setup(tmp_path, "w"),
            workflow="waiter",
            spec=WorkflowSpec.of("waiter", w.Waiter),
            journal_path=str(tmp_path / "journals" / "waiter" / "w.duckdb"),
            hibernate_after=60.0,  # it waits live, as a held instance does
        )
        request = RunRequest(1, '{"type": "go", "timeout": 30}', 1.0)
        first = asyncio.ensure_future(host.run_placed(setup, "t1", request))
        await until(lambda: told)  # the wait, reported as it began
        [(method, details)] = told
        assert method == "note_wait" and details["wait"][1] == ["go"]
        # A restarted supervisor adopts the run (its run call again): told again.
        adopted = asyncio.ensure_future(host.run(("waiter", "w"), request))
        await until(lambda: len(told) == 2)
        assert told[1] == ("note_wait", {"report": details["report"] + 1, "wait": details["wait"]})
        await host.terminate(("waiter", "w"))
        assert (await first).kind == (await adopted).kind
        await host.close()

    run(scenario)
