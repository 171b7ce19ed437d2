"""kill -9 of the supervisor while a workflow's every-minute schedule fires:
every fire still creates its instance, none twice (one per fire minute, in a
row), and they all run.

The engine's clock (``engine_clock``) is brought to a second before each
minute, so a fire is seconds away; the supervisor's own loop still fires it
when that minute passes, and the restarted supervisor decides alone what is
due after the kill."""

from __future__ import annotations

import os
import signal

import pytest
import ray

from pyflow_actors.config import WorkflowSpec
from pyflow_actors.runtime.supervisor.schedules import fire_id
from tests.conftest import wait_for
from tests.workflows import Echo

pytestmark = [pytest.mark.ray, pytest.mark.timeout(300)]

WF = "kill-scheduled"
EVERY_MINUTE = "* * * * *"


def _supervisor_pid(engine) -> int | None:  # type: ignore[no-untyped-def]
    try:
        return int(ray.get(engine.supervisor.pid.remote(), timeout=5))
    except (ray.exceptions.RayError, TimeoutError):
        return None


def test_schedule_fires_once_per_minute_across_a_supervisor_kill(engine, client, engine_clock):
    from pyflow_actors.runtime.local import start_local

    start_local(engine.config.with_workflows(WorkflowSpec.of(WF, Echo))).client.close()
    workflow = client.workflow(WF)
    engine_clock.advance_to_next_minute(lead=30)  # the schedule is seen before that minute
    workflow.update(schedules=[EVERY_MINUTE])
    assert ray.get(engine.supervisor.fire_schedules.remote(), timeout=30) == []  # seen: no fire

    def fired() -> list[str]:
        listed = workflow.list(per_page=100).instances
        return sorted(i.id for i in listed if i.id.startswith("cron-"))

    first_minute = engine_clock.advance_to_next_minute(lead=1)
    [first] = wait_for(fired, 60, 0.05)
    old = _supervisor_pid(engine)
    assert old is not None
    os.kill(old, signal.SIGKILL)  # right after a fire: recorded or not, it must not repeat
    wait_for(lambda: (pid := _supervisor_pid(engine)) is not None and pid != old, 60, 0.1)
    engine_clock.advance_to(first_minute + 59)  # the restarted supervisor sees the next minute
    wait_for(lambda: len(fired()) >= 2, 60)
    workflow.update()  # no schedules: nothing fires after this
    ids = fired()
    assert first == fire_id(EVERY_MINUTE, first_minute)
    expected = [fire_id(EVERY_MINUTE, first_minute + 60 * n) for n in range(len(ids))]
    assert ids == expected  # one per minute, in a row: none skipped, none twice
    for instance_id in ids:
        assert workflow.get(instance_id).wait(60).status.value == "complete"
