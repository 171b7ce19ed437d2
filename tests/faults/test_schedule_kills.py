"""kill -9 of the supervisor while a workflow's every-minute schedule fires:
every fire still creates its instance, none twice (one per fire minute, in a
row), and they all run."""

from __future__ import annotations

import os
import signal
import time

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


def test_schedule_fires_once_per_minute_across_a_supervisor_kill(engine, client):
    from pyflow_actors.runtime.local import start_local

    start_local(engine.config.with_workflows(WorkflowSpec.of(WF, Echo))).client.close()
    workflow = client.workflow(WF)
    workflow.update(schedules=[EVERY_MINUTE])

    def fired() -> list[str]:
        listed = workflow.list(per_page=100).instances
        return sorted(i.id for i in listed if i.id.startswith("cron-"))

    [first] = wait_for(fired, 90, 0.05)
    old = _supervisor_pid(engine)
    assert old is not None
    os.kill(old, signal.SIGKILL)  # right after a fire: recorded or not, it must not repeat
    wait_for(lambda: (pid := _supervisor_pid(engine)) is not None and pid != old, 60, 0.1)
    wait_for(lambda: len(fired()) >= 2, 90)
    workflow.update()  # no schedules: nothing fires after this
    ids = fired()
    first_minute = next(
        m
        for m in range(int(time.time()) // 60 - 5, int(time.time()) // 60 + 1)
        if fire_id(EVERY_MINUTE, m * 60) == first
    )
    expected = [fire_id(EVERY_MINUTE, (first_minute + n) * 60) for n in range(len(ids))]
    assert ids == expected  # one per minute, in a row: none skipped, none twice
    for instance_id in ids:
        assert workflow.get(instance_id).wait(60).status.value == "complete"
