"""Shared instances taken back by a host ahead of their alarm (issue 17: 1,000 alarms).

The plan alone (which rows, when, within what budget), then a supervisor over
real in-process hosts (tests/unit/fake_hosts.py): a pre-activated instance is
held live by its host before its alarm and wakes there on its own timer, with
no second run call; the cases where the plan lets it go again.
"""

from __future__ import annotations

import dataclasses
import random
import time

import pytest

from pyflow_actors.config import EngineConfig, WorkflowSpec, load_config
from pyflow_actors.errors import ConfigError
from pyflow_actors.models import InstanceStatus
from pyflow_actors.runtime.supervisor.alarms import Alarms
from pyflow_actors.runtime.supervisor.preactivation import (
    BASE_LEAD,
    Pin,
    over_budget,
    per_round,
    plan,
)
from pyflow_actors.storage.registry import InstanceRow
from tests import workflows as w
from tests.workflows import ledger_lines

from .test_shared_hosts import Harness, run, until

pytestmark = pytest.mark.timeout(60)

T = 1_000_000.0  # the alarm time of the plan's rows


def rows_due(n: int, at: float = T) -> list[InstanceRow]:
    return [
        InstanceRow("wf", f"i{k}", InstanceStatus.WAITING, params=None, created_at=0.0, wake_at=at)
        for k in range(n)
    ]


# -- the plan, without a supervisor -----------------------------------------------


def test_nothing_is_pre_activated_beyond_the_lead_or_before_its_turn():
    rows = rows_due(10)
    assert plan(rows, T - 61, room=100, max_lead=60, parallelism=2) == []
    # 10 due at once need ~0.2 s of work: only within BASE_LEAD of the alarm.
    assert plan(rows, T - BASE_LEAD - 1, room=100, max_lead=60, parallelism=2) == []
    assert len(plan(rows, T - BASE_LEAD, room=100, max_lead=60, parallelism=2)) == 10


def test_a_thousand_alarms_at_once_are_taken_back_over_the_lead_not_all_at_once():
    rows = rows_due(1000)
    cost, parallelism = 0.025, 2
    whole = 1.5 * 1000 * cost / parallelism + BASE_LEAD  # the last in line's lead
    assert plan(rows, T - whole - 0.1, room=10_000, max_lead=60, parallelism=parallelism) == []
    early = plan(rows, T - whole / 2, room=10_000, max_lead=60, parallelism=parallelism)
    assert 400 < len(early) < 600  # about half of them, halfway through the lead
    assert early == rows[-len(early) :]  # those with the most work ahead of them go first
    assert len(plan(rows, T - BASE_LEAD, room=10_000, max_lead=60, parallelism=2)) == 1000
    # Within a round only what the cores do in it (the rest in the next rounds).
    assert per_round(parallelism, cost) == 16
    assert len(plan(rows, T - 1, room=per_round(parallelism), max_lead=60, parallelism=2)) == 16


def test_the_lead_is_never_more_than_max_lead():
    rows = rows_due(100_000)  # would need ~1,900 s of lead
    assert plan(rows, T - 60.5, room=10, max_lead=60, parallelism=2) == []
    assert len(plan(rows, T - 59.5, room=10, max_lead=60, parallelism=2)) == 10


def test_the_soonest_alarm_is_taken_first_when_the_round_has_room_for_few():
    soon, late = rows_due(1, at=T), rows_due(1, at=T + 1)
    assert plan(soon + late, T - 1, room=1, max_lead=60, parallelism=2) == soon


def test_over_the_budget_the_latest_alarms_are_let_go_first():
    live = object()
    pins = {("wf", str(k)): Pin(live, T + k) for k in (3, 1, 2)}  # type: ignore[arg-type]
    assert over_budget(pins, 1) == [("wf", "2"), ("wf", "3")]
    assert over_budget(pins, 3) == []
    assert over_budget(pins, 0) == [("wf", "1"), ("wf", "2"), ("wf", "3")]


def test_the_budget_is_an_engine_setting_with_a_default_from_memory(tmp_path):
    assert EngineConfig().shared_preactivated > 0
    toml = tmp_path / "pyflow.toml"
    toml.write_text("[engine]\nshared_preactivated = 7\n")
    assert load_config(toml).shared_preactivated == 7
    toml.write_text("[engine]\nshared_preactivated = -1\n")
    with pytest.raises(ConfigError, match="shared_preactivated"):
        load_config(toml)


def test_the_alarms_are_read_soonest_first_up_to_a_horizon_skipping_stale_entries():
    async def scenario() -> None:
        rows = {row.key: row for row in rows_due(200)}
        alarms = Alarms(rows)  # type: ignore[arg-type]  # a table is read by key alone
        generator = random.Random(17)
        for row in rows.values():
            row.wake_at = T + generator.uniform(0, 100)
            alarms.arm(row)
        moved, paused = rows[("wf", "i0")], rows[("wf", "i1")]
        moved.wake_at = T + 1.5  # re-armed: its first entry is stale
        alarms.arm(moved)
        paused.status = InstanceStatus.PAUSED
        read = list(alarms.waking_by(T + 50))
        expected = sorted(
            (r for r in rows.values() if r.wake_at <= T + 50 and r is not paused),
            key=lambda r: r.wake_at or 0.0,
        )
        assert read == expected and read.count(moved) == 1

    run(scenario)


# -- a supervisor over in-process hosts --------------------------------------------

SLEEP = 3.0  # the sleep of the instances below (hibernate_after is 0.2 s)


def sleeper(ledger: str) -> dict[str, object]:
    return {"ledger": ledger, "steps": 2, "step_seconds": 0, "sleep": SLEEP}


def holder(h: Harness, key: tuple[str, str]) -> list[object]:
    """The in-process hosts holding the instance."""
    return [host for host in h.hosts.hosts if key in host.host.keys()]  # noqa: SIM118 - a list


async def asleep(h: Harness, instance_id: str) -> None:
    """The instance hibernated (evicted from every host) in its sleep."""
    await until(
        lambda: (
            h.status("ledger", instance_id) == InstanceStatus.WAITING
            and not holder(h, ("ledger", instance_id))
        )
    )


def test_a_shared_instance_is_live_in_its_host_before_its_alarm_and_wakes_there(tmp_path, ledger):
    async def scenario() -> None:
        h = Harness(tmp_path)
        await h.create("ledger", "s", sleeper(ledger))
        await asleep(h, "s")
        row = h.sup.table.require("ledger", "s")
        wake_at = row.wake_at
        assert wake_at is not None
        # Before its alarm, its host holds it again, pinned; it still shows waiting.
        [host] = await until(lambda: holder(h, ("ledger", "s")))
        assert time.time() < wake_at
        assert ("ledger", "s") in host.host.pinned()
        assert (await h.sup.status("ledger", "s")).status == InstanceStatus.WAITING
        assert h.sup.preactive.made == 1
        await h.finished("ledger", "s")
        assert h.status("ledger", "s") == InstanceStatus.COMPLETE
        # Woken by its own timer in the host: the first run and the pre-activation,
        # no run call at the alarm; every step ran once.
        assert sum(c == "run_placed" for x in h.hosts.hosts for c in x.calls) == 2
        assert h.sup.preactive.woke == 1
        assert ledger_lines(ledger) == ["s step-0", "s step-1"]
        await h.close()

    run(scenario)


def test_a_pre_activated_instance_holds_no_running_slot_until_it_wakes(tmp_path, ledger):
    async def scenario() -> None:
        h = Harness(tmp_path, max_running=1)
        await h.create("ledger", "s", sleeper(ledger))
        await asleep(h, "s")
        await until(lambda: h.sup.preactive.waiting() == 1)
        # The one slot is free for another instance while "s" waits live in its host.
        await h.create("echo", "other", {"value": 1})
        await h.finished("echo", "other")
        await h.finished("ledger", "s")
        assert h.status("ledger", "s") == InstanceStatus.COMPLETE
        await h.close()

    run(scenario)


def test_a_paused_pre_activated_instance_is_let_go_and_resumes_without_a_step_run_twice(
    tmp_path, ledger
):
    async def scenario() -> None:
        h = Harness(tmp_path)
        await h.create("ledger", "s", sleeper(ledger))
        await asleep(h, "s")
        await until(lambda: holder(h, ("ledger", "s")))
        await h.sup.control("ledger", "s", "pause")
        await until(lambda: h.status("ledger", "s") == InstanceStatus.PAUSED)
        await until(lambda: not holder(h, ("ledger", "s")))  # its host let go of it
        assert h.sup.preactive.waiting() == 0
        await h.sup.control("ledger", "s", "resume")
        await h.finished("ledger", "s")
        assert h.status("ledger", "s") == InstanceStatus.COMPLETE
        assert ledger_lines(ledger) == ["s step-0", "s step-1"]
        await h.close()

    run(scenario)


def test_a_terminated_pre_activated_instance_is_let_go(tmp_path, ledger):
    async def scenario() -> None:
        h = Harness(tmp_path)
        await h.create("ledger", "s", sleeper(ledger))
        await asleep(h, "s")
        await until(lambda: holder(h, ("ledger", "s")))
        await h.sup.control("ledger", "s", "terminate")
        assert h.status("ledger", "s") == InstanceStatus.TERMINATED
        await until(lambda: not holder(h, ("ledger", "s")))
        assert h.sup.preactive.waiting() == 0
        assert ledger_lines(ledger) == ["s step-0"]
        await h.close()

    run(scenario)


def test_over_a_lowered_budget_a_pre_activated_instance_hibernates_again_and_wakes_by_alarm(
    tmp_path, ledger
):
    async def scenario() -> None:
        h = Harness(tmp_path)
        await h.create("ledger", "s", sleeper(ledger))
        await asleep(h, "s")
        await until(lambda: holder(h, ("ledger", "s")))
        await h.sup.configure(dataclasses.replace(h.sup.config, shared_preactivated=0))
        # Unpinned: its host lets it hibernate (its alarm is the supervisor's again).
        await asleep(h, "s")
        assert h.sup.preactive.let_go == 1
        await h.finished("ledger", "s")
        assert h.status("ledger", "s") == InstanceStatus.COMPLETE
        assert h.sup.preactive.woke == 0
        assert ledger_lines(ledger) == ["s step-0", "s step-1"]
        await h.close()

    run(scenario)


def test_an_instance_of_a_workflow_with_its_own_cap_is_not_pre_activated(tmp_path, ledger):
    async def scenario() -> None:
        h = Harness(tmp_path)
        spec = WorkflowSpec.of("ledger", w.Ledger)
        capped = dataclasses.replace(spec, max_running=4)
        await h.sup.start()
        await h.sup.configure(h.sup.config.with_workflows(capped))
        await h.create("ledger", "s", sleeper(ledger))
        await asleep(h, "s")
        await h.finished("ledger", "s")
        assert h.sup.preactive.made == 0
        assert ledger_lines(ledger) == ["s step-0", "s step-1"]
        await h.close()

    run(scenario)


def test_an_event_that_wakes_a_pre_activated_instance_reaches_it_in_its_host(tmp_path, ledger):
    async def scenario() -> None:
        h = Harness(tmp_path)
        params = {"ledger": ledger, "steps": 2, "step_seconds": 0, "wait_for": "go", "timeout": 4}
        await h.create("ledger", "e", params)
        await asleep(h, "e")
        await until(lambda: holder(h, ("ledger", "e")))  # taken back ahead of its timeout
        await h.sup.send_event("ledger", "e", "go", {"add": 10})
        await h.finished("ledger", "e")
        status = await h.sup.status("ledger", "e")
        assert status.status == InstanceStatus.COMPLETE and status.output == 11
        assert h.sup.preactive.woke == 0  # the event woke it, not its alarm
        assert ledger_lines(ledger) == ["e step-0", "e step-1"]
        await h.close()

    run(scenario)
