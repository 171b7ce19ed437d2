"""A cron schedule set through the official SDK fires on the real engine: the
next minute's fire creates exactly one instance, under the id derived from
the fire time, and it runs."""

from __future__ import annotations

import time

import pytest

from pyflow_actors import WorkflowEntrypoint
from pyflow_actors.config import WorkflowSpec
from pyflow_actors.runtime.supervisor.schedules import fire_id
from tests.api.conftest import ACCOUNT
from tests.conftest import wait_for

pytestmark = pytest.mark.ray

WF = "scheduled-echo"


class ScheduleEcho(WorkflowEntrypoint):
    async def run(self, event, step):
        return await step.do("schedule")(lambda: event["schedule"])


EVERY_MINUTE = "* * * * *"


def test_a_schedule_set_by_the_sdk_creates_one_instance_per_fire(engine, cf):
    from pyflow_actors.runtime.local import start_local

    start_local(engine.config.with_workflows(WorkflowSpec.of(WF, ScheduleEcho))).client.close()
    cf.workflows.update(
        WF,
        account_id=ACCOUNT,
        class_name="ScheduleEcho",
        script_name=__name__,
        schedules=[{"cron": EVERY_MINUTE}],
    )
    set_at = time.time()

    def scheduled():  # type: ignore[no-untyped-def]
        listed = cf.workflows.instances.list(WF, account_id=ACCOUNT).result
        return [i for i in listed if i.id.startswith("cron-")]

    [instance] = wait_for(scheduled, 90)
    next_minute = (int(set_at) // 60 + 1) * 60
    assert instance.id in {
        fire_id(EVERY_MINUTE, next_minute),
        fire_id(EVERY_MINUTE, next_minute + 60),
    }
    got = lambda: cf.workflows.instances.get(instance.id, account_id=ACCOUNT, workflow_name=WF)  # noqa: E731
    wait_for(lambda: got().status == "complete", 60)
    assert got().trigger.source == "cron" and got().schedule.cron == EVERY_MINUTE
    fired_at = got().schedule.scheduled_time
    assert got().output == {"cron": EVERY_MINUTE, "scheduledTime": fired_at}
    assert instance.id == fire_id(EVERY_MINUTE, fired_at / 1000)
    cf.workflows.update(WF, account_id=ACCOUNT, class_name="ScheduleEcho", script_name=__name__)
    fired = {i.id for i in scheduled()}
    assert len(fired) <= 2 and instance.id in fired  # at most the next minute's, never twice
