"""kill -9 of the supervisor while dedicated instances wait live in their actors (a
sleep and an event wait shorter than ``hibernate_after``): the restarted supervisor
adopts them and shows them waiting, with their wake time and event types, from its
first answer (not running until their wait changes); each then completes once."""

from __future__ import annotations

import os
import signal
import uuid

import pytest
import ray

from tests.conftest import wait_for
from tests.faults.conftest import record_figures
from tests.faults.test_integrity import side_engine
from tests.faults.test_supervisor_kills import _alive_new_pid, _supervisor_pid
from tests.workflows import ledger_lines

pytestmark = [pytest.mark.ray, pytest.mark.timeout(240)]

SLEEP_SECONDS = 45.0  # longer than a supervisor restart under load, shorter than hibernate_after


def _shown(instance) -> tuple[str, float | None, list[str]]:
    info = instance.status()
    return info.status.value, info.wake_at, list(info.waiting_for)


def test_runs_waiting_live_show_waiting_after_a_supervisor_kill_then_complete_once(
    engine, tmp_path, ledger
):
    namespace = f"adopt-{uuid.uuid4().hex[:6]}"
    with side_engine(tmp_path / "storage", namespace, hibernate_after=300.0) as side:
        ledger_wf = side.client.workflow("ledger")
        params = {"ledger": ledger, "steps": 2, "step_seconds": 0.01}
        listener = ledger_wf.create(id="listener", params={**params, "wait_for": "go"})
        sleeper = ledger_wf.create(id="sleeper", params={**params, "sleep": SLEEP_SECONDS})
        wait_for(lambda: [_shown(i)[0] for i in (listener, sleeper)] == ["waiting"] * 2, 60)
        before = {i.id: _shown(i) for i in (listener, sleeper)}
        pids = {
            i.id: ray.get(side.supervisor.actor_pid.remote("ledger", i.id))
            for i in (listener, sleeper)
        }

        old = _supervisor_pid(side)
        os.kill(old, signal.SIGKILL)
        wait_for(lambda: _alive_new_pid(side, old), 60, 0.1)
        after = {i.id: _shown(i) for i in (listener, sleeper)}  # its first answers
        stats = ray.get(side.supervisor.stats.remote(), timeout=30)
        adopted = {
            i.id: ray.get(side.supervisor.actor_pid.remote("ledger", i.id))
            for i in (listener, sleeper)
        }
        listed = [i.id for i in ledger_wf.list(status="waiting").instances]

        listener.send_event("go", {"add": 1})
        ends = [i.wait(SLEEP_SECONDS + 60).status.value for i in (listener, sleeper)]
        lines = ledger_lines(ledger)
        runs = {
            i.id: [lines.count(f"{i.id} step-{n}") for n in range(2)] for i in (listener, sleeper)
        }
        record_figures(
            "kill -9 of the supervisor while runs wait live in their actors",
            supervisor_kills=1,
            kills=1,
            instances=2,
            shown_running_after_adoption=sum(s[0] != "waiting" for s in after.values()),
            steps_run_again=sum(n - 1 for r in runs.values() for n in r),
        )
        assert after == before
        assert before["sleeper"][1] is not None and before["listener"][2] == ["go"]
        assert adopted == pids  # adopted in their processes, not rehydrated
        assert sorted(listed) == ["listener", "sleeper"]
        assert stats["by_status"].get("waiting") == 2 and not stats["by_status"].get("running")
        assert ends == ["complete", "complete"]
        assert runs == {"listener": [1, 1], "sleeper": [1, 1]}
