"""Cron schedules of workflows, without Ray: one instance per fire with an id
derived from the fire time, exactly once across a kill between the create and
the record and across a supervisor restart, at most one catch-up."""

from __future__ import annotations

import datetime as dt

import pytest

from pyflow_actors.config import EngineConfig, WorkflowSpec
from pyflow_actors.limits import validate_instance_id
from pyflow_actors.models import CreateOptions
from pyflow_actors.runtime.supervisor import Supervisor
from pyflow_actors.runtime.supervisor import actor as supervisor_actor
from pyflow_actors.runtime.supervisor.schedules import fire_id
from tests import workflows as w

from .fake_actors import FakeBackend
from .test_supervisor import run

pytestmark = pytest.mark.timeout(30)

EVERY_MINUTE = "* * * * *"
T0 = dt.datetime(2026, 6, 2, 9, 0, 30, tzinfo=dt.timezone.utc).timestamp()


@pytest.fixture(autouse=True)
def no_background_ticks(monkeypatch):
    """Only the test's own ticks fire (their clock is the test's, not the wall's)."""
    monkeypatch.setattr(supervisor_actor, "SCHEDULE_SECONDS", 3600.0)


async def _supervisor(tmp_path) -> Supervisor:
    spec = WorkflowSpec.of("echo", w.Echo, schedules=(EVERY_MINUTE,))
    sup = Supervisor(
        EngineConfig(storage=tmp_path, workflows=(spec,), max_running=8), backend=FakeBackend()
    )
    await sup.start()
    return sup


def _ids(sup: Supervisor) -> list[str]:
    return sorted(r.id for r in sup.table if r.workflow == "echo")


def test_fire_ids_are_stable_valid_ids_per_cron_and_minute():
    at = T0 + 30  # 09:01:00
    assert fire_id(EVERY_MINUTE, at) == fire_id(EVERY_MINUTE, at)
    assert fire_id(EVERY_MINUTE, at).endswith("-20260602T0901")
    assert fire_id(EVERY_MINUTE, at) != fire_id("*/5 * * * *", at)
    validate_instance_id(fire_id(EVERY_MINUTE, at))


def test_each_fire_creates_one_instance_and_a_new_schedule_starts_at_its_next_fire(tmp_path):
    async def scenario() -> None:
        sup = await _supervisor(tmp_path)
        assert sup.fire_schedules(T0) == []  # first sight: nothing before it runs
        assert sup.fire_schedules(T0 + 29) == []  # 09:00:59
        [first] = sup.fire_schedules(T0 + 31)  # 09:01:01
        assert first == fire_id(EVERY_MINUTE, T0 + 30)
        assert sup.fire_schedules(T0 + 40) == []  # the same fire, asked again
        [second] = sup.fire_schedules(T0 + 95)
        assert _ids(sup) == sorted([first, second])

    run(scenario)


def test_missed_fires_catch_up_once_with_the_latest(tmp_path):
    async def scenario() -> None:
        sup = await _supervisor(tmp_path)
        sup.fire_schedules(T0)
        created = sup.fire_schedules(T0 + 10 * 60)  # ten fires missed
        assert created == [fire_id(EVERY_MINUTE, T0 + 9 * 60 + 30)]
        assert sup.fire_schedules(T0 + 10 * 60 + 5) == []

    run(scenario)


def test_a_kill_between_create_and_record_fires_nothing_twice(tmp_path):
    async def scenario() -> None:
        sup = await _supervisor(tmp_path)
        sup.fire_schedules(T0)
        due = fire_id(EVERY_MINUTE, T0 + 30)
        # The last supervisor created the fire's instance, then died before recording it.
        await sup.create("echo", [CreateOptions(id=due)], batch=False)
        assert sup.fire_schedules(T0 + 31) == [due]  # recognised, recorded
        assert _ids(sup) == [due]
        sup.registry.close()

        again = await _supervisor(tmp_path)  # a restarted supervisor on the same registry
        assert again.fire_schedules(T0 + 45) == []
        assert _ids(again) == [due]

    run(scenario)


def test_schedules_set_by_the_api_fire(tmp_path):
    async def scenario() -> None:
        sup = await _supervisor(tmp_path)
        settings = (
            sup.catalog.spec("echo").settings().model_copy(update={"schedules": ("*/5 * * * *",)})
        )
        await sup.update_workflow("echo", settings)
        sup.fire_schedules(T0)
        assert sup.fire_schedules(T0 + 4 * 60) == []
        assert sup.fire_schedules(T0 + 5 * 60) == [fire_id("*/5 * * * *", T0 + 270)]

    run(scenario)


def test_a_fire_instance_carries_its_schedule(tmp_path):
    async def scenario() -> None:
        sup = await _supervisor(tmp_path)
        sup.fire_schedules(T0)
        [instance_id] = sup.fire_schedules(T0 + 31)
        status = await sup.status("echo", instance_id)
        assert status.schedule == {"cron": EVERY_MINUTE, "scheduledTime": round((T0 + 30) * 1000)}
        assert sup.table.require("echo", instance_id).params in (None, "null")  # no params

    run(scenario)


def test_the_event_has_a_schedule_only_when_a_cron_made_it():
    from pyflow_actors.entrypoint import WorkflowEvent

    when = dt.datetime.now(dt.timezone.utc)
    plain = WorkflowEvent(None, when, "i", "echo")
    assert "schedule" not in plain and plain.schedule is None
    fired = WorkflowEvent(
        None, when, "i", "echo", schedule={"cron": EVERY_MINUTE, "scheduledTime": 1}
    )
    assert fired["schedule"] == fired.schedule == {"cron": EVERY_MINUTE, "scheduledTime": 1}


def test_rest_shows_a_cron_instance_trigger_and_schedule():
    import asyncio

    from tests.fake_transport import FakeTransport

    from .gateway_on_fake import ACCOUNT, sdk_call

    fake = FakeTransport()
    asyncio.run(fake.create("hello", [CreateOptions(id="c1")], batch=False))
    schedule = {"cron": EVERY_MINUTE, "scheduledTime": 1_780_000_000_000}
    fake.set_status("hello", "c1", "queued", schedule=schedule)
    got = sdk_call(
        fake, lambda cf: cf.workflows.instances.get("c1", account_id=ACCOUNT, workflow_name="hello")
    )
    assert got.trigger.source == "cron"
    assert (got.schedule.cron, got.schedule.scheduled_time) == (EVERY_MINUTE, 1_780_000_000_000)
    listed = sdk_call(fake, lambda cf: cf.workflows.instances.list("hello", account_id=ACCOUNT))
    assert [i.trigger_source for i in listed.result] == ["cron"]


def test_a_workflow_deleted_and_registered_again_fires_its_schedule_afresh(tmp_path):
    async def scenario() -> None:
        sup = await _supervisor(tmp_path)
        sup.fire_schedules(T0)
        [first] = sup.fire_schedules(T0 + 31)  # 09:01
        await sup.delete_workflow("echo")
        assert sup.registry.last_cron_fire("workflow:echo", EVERY_MINUTE) is None
        spec = WorkflowSpec.of("echo", w.Echo, schedules=(EVERY_MINUTE,))
        await sup.configure(EngineConfig(storage=tmp_path, workflows=(spec,), max_running=8))

        # A new schedule: nothing missed while it was gone catches up...
        assert sup.fire_schedules(T0 + 10 * 60) == []
        # ...and it fires again at its next fire.
        assert sup.fire_schedules(T0 + 11 * 60) == [fire_id(EVERY_MINUTE, T0 + 10 * 60 + 30)]
        assert _ids(sup) == [fire_id(EVERY_MINUTE, T0 + 10 * 60 + 30)]
        assert first not in _ids(sup)

    run(scenario)


def test_the_background_tick_reads_the_engine_clock_so_a_shifted_clock_fires(tmp_path, monkeypatch):
    """The test-only clock offset moves cron fires too (the Ray tests rely on it)."""
    from pyflow_actors.engine.clock import SYSTEM_CLOCK

    offset_file = tmp_path / "offset"
    monkeypatch.setattr(SYSTEM_CLOCK, "offset_file", str(offset_file))

    def shift_to(when: float) -> None:
        offset_file.write_text(repr(when - SYSTEM_CLOCK.now() + SYSTEM_CLOCK.offset()))
        monkeypatch.setattr(SYSTEM_CLOCK, "_read_at", float("-inf"))  # read it now

    async def scenario() -> None:
        sup = await _supervisor(tmp_path / "engine")
        minute = (int(SYSTEM_CLOCK.now()) // 60 + 2) * 60
        shift_to(minute - 5)
        assert sup.fire_schedules() == []  # seen 5 s before that minute
        shift_to(minute + 1)
        assert sup.fire_schedules() == [fire_id(EVERY_MINUTE, minute)]

    run(scenario)
