"""kill -9 of the supervisor after it applied a control command and before the caller
had its answer: the command sent again with its request id (what the Ray transport
does) is answered with the instance's status, not applied a second time."""

from __future__ import annotations

import os
import signal
import uuid

import pytest
import ray

from tests.conftest import wait_for
from tests.faults.conftest import record_figures
from tests.faults.test_supervisor_kills import _alive_new_pid, _supervisor_pid
from tests.workflows import ledger_lines

pytestmark = [pytest.mark.ray, pytest.mark.timeout(120)]


def _control(engine, instance_id: str, action: str, request_id: str):
    """One send of a control, as the Ray transport makes it (by keyword, with its id)."""
    call = engine.supervisor.control.remote(
        workflow="ledger", instance_id=instance_id, action=action, request_id=request_id
    )
    return ray.get(call, timeout=60)


def test_controls_sent_again_after_a_supervisor_kill_are_applied_once(engine, client, ledger):
    prefix = f"ck-{uuid.uuid4().hex[:6]}"
    workflow = client.workflow("ledger")
    done = workflow.create(
        id=f"{prefix}-restart", params={"ledger": ledger, "steps": 2, "step_seconds": 0.01}
    )
    busy = workflow.create(
        id=f"{prefix}-terminate", params={"ledger": ledger, "steps": 60, "step_seconds": 0.5}
    )
    assert done.wait(30).status.value == "complete"
    wait_for(lambda: busy.status().status.value == "running", 30)

    restarted = _control(engine, done.id, "restart", "restart-1")
    terminated = _control(engine, busy.id, "terminate", "terminate-1")
    assert restarted.status.value in ("queued", "running")  # generation 2, started at once
    assert terminated.status.value == "terminated"
    assert done.wait(30).status.value == "complete"  # generation 2 ran
    old = _supervisor_pid(engine)
    os.kill(old, signal.SIGKILL)  # both were applied; say their answers were lost
    wait_for(lambda: _alive_new_pid(engine, old), 60, 0.1)

    # Sent again by the transport: answered, not applied (a restart would answer queued
    # or running, a terminate of a terminated instance be refused with a 409).
    answers = [
        _control(engine, done.id, "restart", "restart-1").status.value,
        _control(engine, busy.id, "terminate", "terminate-1").status.value,
    ]
    lines = ledger_lines(ledger)
    runs = [lines.count(f"{done.id} step-{i}") for i in range(2)]
    record_figures(
        "kill -9 of the supervisor between a control and its answer",
        supervisor_kills=1,
        kills=1,
        controls_sent_again=len(answers),
        applied_twice=sum(a != b for a, b in zip(answers, ["complete", "terminated"], strict=True)),
    )
    assert answers == ["complete", "terminated"]
    assert runs == [2, 2]  # generation 1 and generation 2, no third

    done.restart()  # a new call (its own request id, through the client): applied
    wait_for(lambda: ledger_lines(ledger).count(f"{done.id} step-1") == 3, 30)
    assert done.wait(30).status.value == "complete"
