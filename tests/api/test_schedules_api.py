"""A cron schedule set through the official SDK fires on the real engine: the
next minute's fire creates exactly one instance, under the id derived from
the fire time, and it runs. The engine's clock (``engine_clock``) is brought
to a second before that minute: the supervisor's loop fires it seconds later."""

from __future__ import annotations

import pytest
import ray

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


def test_a_schedule_set_by_the_sdk_creates_one_instance_per_fire(engine, cf, engine_clock):
    from pyflow_actors.runtime.local import start_local

    start_local(engine.config.with_workflows(WorkflowSpec.of(WF, ScheduleEcho))).client.close()
    engine_clock.advance_to_next_minute(lead=30)  # the schedule is seen before that minute
    cf.workflows.update(
        WF,
        account_id=ACCOUNT,
        class_name="ScheduleEcho",
        script_name=__name__,
        schedules=[{"cron": EVERY_MINUTE}],
    )
    assert ray.get(engine.supervisor.fire_schedules.remote(), timeout=30) == []  # seen: no fire

    def scheduled():  # type: ignore[no-untyped-def]
        listed = cf.workflows.instances.list(WF, account_id=ACCOUNT).result
        return [i for i in listed if i.id.startswith("cron-")]

    next_minute = engine_clock.advance_to_next_minute(lead=1)
    [instance] = wait_for(scheduled, 60)
    assert instance.id == fire_id(EVERY_MINUTE, next_minute)
    got = lambda: cf.workflows.instances.get(instance.id, account_id=ACCOUNT, workflow_name=WF)  # noqa: E731
    wait_for(lambda: got().status == "complete", 60)
    assert got().trigger.source == "cron" and got().schedule.cron == EVERY_MINUTE
    fired_at = got().schedule.scheduled_time
    assert got().output == {"cron": EVERY_MINUTE, "scheduledTime": fired_at}
    assert fired_at == next_minute * 1000
    cf.workflows.update(WF, account_id=ACCOUNT, class_name="ScheduleEcho", script_name=__name__)
    fired = {i.id for i in scheduled()}
    assert len(fired) <= 2 and instance.id in fired  # at most the next minute's, never twice
