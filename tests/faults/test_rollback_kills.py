"""kill -9 of an instance's process in the middle of its rollback (after a failure,
and after a terminate with rollback), in both placements: the rollback resumes, a
finished handler never runs again, and each handler's side effect (a line in a
file) happens exactly once."""

from __future__ import annotations

import os
import signal
import uuid
from pathlib import Path

import pytest
import ray

from pyflow_actors.models import InstanceStatus
from tests.conftest import SHARED, wait_for
from tests.faults.conftest import record_figures
from tests.workflows import ledger_lines

pytestmark = [pytest.mark.ray, pytest.mark.timeout(300)]

STEPS = ("flight", "hotel", "car")


@pytest.mark.parametrize("placement", ["dedicated", "shared"])
@pytest.mark.parametrize("trigger", ["failure", "terminate"])
def test_kill_9_mid_rollback_resumes_it_and_runs_each_handler_once(
    engine, client, ledger, tmp_path, trigger, placement
):
    workflow = "saga" + (SHARED if placement == "shared" else "")
    gate = tmp_path / "gate"
    params = {"ledger": ledger, "gate": str(gate)}
    params |= {"fail": True} if trigger == "failure" else {"wait_for": "never-sent"}
    instance = client.workflow(workflow).create(id=f"rbk-{uuid.uuid4().hex[:8]}", params=params)
    me = instance.id
    if trigger == "terminate":
        wait_for(lambda: f"{me} do car" in ledger_lines(ledger), 60)
        instance.terminate(rollback=True)
    # The car is undone (committed); the hotel's handler is in flight, held by the gate.
    wait_for(lambda: f"{me} undoing hotel" in ledger_lines(ledger), 60)
    wait_for(lambda: instance.status().status == InstanceStatus.ROLLING_BACK, 30)
    pid = ray.get(engine.supervisor.actor_pid.remote(workflow, me), timeout=30)
    os.kill(pid, signal.SIGKILL)
    # A new process replays run(), finds the rollback where it was, runs the hotel's
    # handler again (its attempt died with the process): it waits on the gate again.
    wait_for(lambda: ledger_lines(ledger).count(f"{me} undoing hotel") == 2, 90)
    Path(gate).touch()

    final = instance.wait(90)

    expected = InstanceStatus.ERRORED if trigger == "failure" else InstanceStatus.TERMINATED
    assert final.status == expected
    lines = ledger_lines(ledger)
    error = "ValueError" if trigger == "failure" else "Terminated"
    undone = [line for line in lines if line.startswith(f"{me} undo ")]
    assert undone == [f"{me} undo {name} {name}-ok {error}" for name in reversed(STEPS)]
    assert all(lines.count(f"{me} do {name}") == 1 for name in STEPS)
    detail = instance.describe()
    assert detail.rollback is not None and detail.rollback.outcome == "complete"
    handlers = {s.name: s for s in detail.steps if s.type == "rollback"}
    assert list(handlers) == ["car-1", "hotel-1", "flight-1"]
    assert len(handlers["car-1"].attempts) == 1  # finished before the kill: never again
    hotel = handlers["hotel-1"].attempts
    assert [a.success for a in hotel] == [False, True]
    assert hotel[0].error is not None and hotel[0].error.name == "Interrupted"
    record_figures(
        f"kill -9 mid-rollback ({trigger}, {placement})",
        kills=1,
        handlers=len(handlers),
        handler_runs_repeated=sum(
            len([a for a in s.attempts if a.success]) - 1 for s in handlers.values()
        ),
        lost=len(STEPS) - len(undone),
    )
