"""Restarting an instance from a chosen step on the dashboard: the steps listed, the
call it sends, and what it refuses."""

from __future__ import annotations

import asyncio
import re

import pytest

from pyflow_actors.errors import ValidationError
from pyflow_actors.models import CreateOptions, RestartFrom, StepInfo
from service.dash.restart_points import parse_restart_point, restart_points
from tests.fake_transport import FakeTransport
from tests.unit.test_dashboard import csrf_of, run, sign_in

BASE = "/dash/a/acme/workflows/hello/instances/i-01"


@pytest.fixture
def fake() -> FakeTransport:
    engine = FakeTransport(("hello",))
    asyncio.run(engine.create("hello", [CreateOptions(id="i-01")], batch=False))
    engine.set_status("hello", "i-01", "running", started_at=1.0)
    return engine


def steps() -> list[StepInfo]:
    done = {"finished": True, "success": True}
    return [
        StepInfo(type="step", name="fetch", start=1, end=2, **done),
        StepInfo(type="sleep", name="nap", start=2, end=3, **done),
        StepInfo(type="step", name="fetch-2", start=3, end=4, **done),
        StepInfo(type="step", name="v-1", start=4, end=5, **done),  # a name ending in -1
        StepInfo(type="waitForEvent", name="approval", start=5, event_type="ok"),
    ]


def test_restart_points_name_each_step_with_its_occurrence_and_type():
    points = restart_points(reversed(steps()))
    assert [p.target for p in points] == [
        RestartFrom(name="fetch", count=1, type="do"),
        RestartFrom(name="nap", count=1, type="sleep"),
        RestartFrom(name="fetch", count=2, type="do"),
        RestartFrom(name="v-1", count=1, type="do"),
        RestartFrom(name="approval", count=1, type="waitForEvent"),
    ]
    assert [p.label for p in points][:3] == ["do fetch", "sleep nap", "do fetch (#2)"]
    assert [parse_restart_point(p.value) for p in points] == [p.target for p in points]


def test_a_restart_point_that_is_not_one_is_a_clear_error():
    assert parse_restart_point("") is None
    for bad in ("do:x:fetch", "rollback:1:fetch", "do:0:fetch", "do:1:"):
        with pytest.raises(ValidationError, match="choose a step"):
            parse_restart_point(bad)


def test_the_instance_page_restarts_from_the_chosen_step(fake):
    fake.steps[("hello", "i-01")] = steps()

    async def scenario(client):
        await sign_in(client)
        page = (await client.get(BASE)).text
        answer = await client.post(
            BASE + "/control",
            data={"action": "restart", "from": "do:2:fetch", "csrf": csrf_of(page)},
        )
        shown = await client.get(answer.headers["location"])
        return page, answer, shown

    page, answer, shown = run(fake, scenario)
    options = re.findall(r'<option value="([^"]*)">', page.split('id="restart-from"')[1])
    assert options[:4] == ["", "do:1:fetch", "sleep:1:nap", "do:2:fetch"]
    assert answer.status_code == 303
    assert fake.restarted_from == RestartFrom(name="fetch", count=2, type="do")
    assert "Restarted from step fetch-2." in shown.text


def test_a_restart_from_the_beginning_sends_no_step(fake):
    fake.restarted_from = RestartFrom(name="left over")

    async def scenario(client):
        await sign_in(client)
        csrf = csrf_of((await client.get(BASE)).text)
        form = {"action": "restart", "from": "", "csrf": csrf}
        return await client.post(BASE + "/control", data=form)

    assert run(fake, scenario).status_code == 303
    assert fake.restarted_from is None


def test_a_step_to_start_from_is_refused_on_other_actions_and_without_csrf(fake):
    async def scenario(client):
        await sign_in(client)
        csrf = csrf_of((await client.get(BASE)).text)
        pause = await client.post(
            BASE + "/control", data={"action": "pause", "from": "do:1:fetch", "csrf": csrf}
        )
        forged = await client.post(
            BASE + "/control", data={"action": "restart", "from": "do:1:fetch", "csrf": "x"}
        )
        return pause, forged

    pause, forged = run(fake, scenario)
    assert pause.status_code == 400 and "only for a restart" in pause.text
    assert forged.status_code == 403 and "dash.csrf_rejected" in forged.text
    assert fake.instances[("hello", "i-01")].status.value == "running"
