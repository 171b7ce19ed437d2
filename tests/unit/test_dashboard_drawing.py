"""What the dashboard draws, without a gateway: the step timeline and the workflow diagram."""

from __future__ import annotations

import asyncio
from typing import Any

from pyflow_actors.models import AttemptInfo, CreateOptions, ErrorInfo, StepInfo
from service.dash.diagram import diagram
from service.dash.timeline import timeline
from tests.fake_transport import FakeTransport


def test_timeline_puts_overlapping_steps_in_lanes_with_attempts():
    now = 1000.0
    detail = asyncio.run(_detail_with_steps(now))
    rows = timeline(detail, now=now + 10)
    assert [(r.name, r.lane) for r in rows] == [("a", 0), ("b", 1), ("c", 0), ("d", 1)]
    assert [a.outcome for a in rows[0].attempts] == ["failed", "done"]
    assert rows[0].attempts[0].error == "Boom: first try"
    assert rows[2].state == "running" and rows[2].note.startswith("wakes ")
    assert rows[3].note == "event type ok, times out 1970-01-01 01:16:40Z"


async def _detail_with_steps(now: float) -> Any:
    fake = FakeTransport(("hello",))
    await fake.create("hello", [CreateOptions(id="t")], batch=False)
    fake.set_status("hello", "t", "waiting", started_at=now)
    fake.steps[("hello", "t")] = [
        StepInfo(
            type="step",
            name="a",
            start=now,
            end=now + 4,
            finished=True,
            success=True,
            attempts=[
                AttemptInfo(
                    start=now,
                    end=now + 1,
                    success=False,
                    error=ErrorInfo(name="Boom", message="first try"),
                ),
                AttemptInfo(start=now + 2, end=now + 4, success=True),
            ],
        ),
        StepInfo(type="step", name="b", start=now + 1, end=now + 3, finished=True, success=True),
        StepInfo(type="sleep", name="c", start=now + 5, end=now + 500),
        StepInfo(type="waitForEvent", name="d", start=now + 6, end=now + 3600, event_type="ok"),
    ]
    return await fake.describe("hello", "t")


GRAPH = {
    "version": 1,
    "workflow": {
        "type": "start",
        "functions": {
            "fetch": {
                "type": "function_def",
                "name": "fetch",
                "nodes": [{"type": "step_do", "name": "fetch {url}", "nodes": []}],
            }
        },
        "nodes": [
            {"type": "step_do", "name": "create account", "nodes": []},
            {
                "type": "parallel",
                "kind": "all",
                "nodes": [{"type": "loop", "nodes": [{"type": "function_call", "name": "fetch"}]}],
            },
            {
                "type": "step_wait_for_event",
                "name": "approval",
                "options": {"event_type": "approved", "timeout": "1 hour"},
            },
        ],
    },
}


def _leaves(boxes):
    for box in boxes:
        if box.lanes:
            for _, inner in box.lanes:
                yield from _leaves(inner)
        else:
            yield box


def test_diagram_marks_the_steps_an_instance_ran_including_fstring_names():
    steps = [
        StepInfo(type="step", name="create account", start=1, end=2, finished=True, success=True),
        StepInfo(type="step", name="fetch https://a", start=2, end=3, finished=True, success=True),
        StepInfo(type="step", name="fetch https://b", start=2, finished=False),
    ]
    leaves = {b.label: b for b in _leaves(diagram(GRAPH, steps))}
    assert leaves["create account"].state == "done"
    assert leaves["fetch {url}"].state == "running"
    assert leaves["approval"].state is None
    assert leaves["approval"].detail == "type approved, timeout 1 hour"
