"""A status or a kind of step this dashboard does not know yet (a newer engine's
``rollingBack`` and ``type: rollback`` steps) renders generically, never a crash."""

from __future__ import annotations

import re

from pyflow_actors.models import (
    AttemptInfo,
    ErrorInfo,
    InstanceDetail,
    InstanceStatus,
    InstanceStatusInfo,
    StepInfo,
)
from service.dash.diagram import diagram
from service.dash.pages import TEMPLATES
from service.dash.restart_points import restart_points
from service.dash.statuses import status_class, status_is_final, status_name
from service.dash.timeline import timeline
from service.dash.views import live_part
from tests.unit.test_dashboard_drawing import GRAPH


def rolling_back() -> InstanceDetail:
    """An instance as a newer engine might describe it (built without validation, as
    this engine's models do not know those values)."""
    steps = [
        StepInfo(type="step", name="create account", start=10, end=11, finished=True, success=True),
        StepInfo.model_construct(
            type="rollback",
            name="create account",
            start=12,
            end=None,
            finished=False,
            success=None,
            output=None,
            error=None,
            attempts=[
                AttemptInfo(
                    start=12,
                    end=12.5,
                    success=False,
                    error=ErrorInfo(name="E", message="undo failed"),
                ),
                AttemptInfo(start=13),
            ],
            config=None,
            event_type=None,
            next_attempt_at=None,
        ),
    ]
    info = InstanceStatusInfo.model_construct(
        **{
            **InstanceStatusInfo(
                id="r-1", workflow="hello", status=InstanceStatus.RUNNING, created_at=9
            ).__dict__,
            "status": "rollingBack",
            "started_at": 10.0,
        }
    )
    return InstanceDetail.model_construct(status=info, params={}, steps=steps)


def test_an_unknown_status_is_a_neutral_badge_and_not_final():
    assert status_name("rollingBack") == "rollingBack"
    assert status_class("rolling back<x>") == "status-rolling_back_x_"
    assert not status_is_final("rollingBack") and status_is_final("complete")
    assert status_is_final(InstanceStatus.TERMINATED) and status_name(None) == "unknown"


def test_a_rollback_step_and_an_unknown_status_render_in_the_live_part():
    detail = rolling_back()
    rows = timeline(detail, now=20.0)
    context = {"info": detail.status, "detail": detail, "rows": rows}
    html = TEMPLATES.env.get_template("_live.html").render(
        live_part({**context, "boxes": diagram(GRAPH, detail.steps)})
    )
    assert 'data-final="false"' in html and 'data-status="rollingBack"' in html
    assert re.search(r'class="badge status-rollingBack" id="status">rollingBack<', html)
    rollback = re.search(
        r'<li class="step state-running" data-step="create account" data-kind="rollback">.*?</li>\s*</ol>\s*</li>',
        html,
        re.S,
    )
    assert rollback is not None
    assert "attempt 1: failed" in rollback.group(0) and "E: undo failed" in rollback.group(0)
    assert [p.target.type for p in restart_points(detail.steps)] == ["do"]  # not a rollback
