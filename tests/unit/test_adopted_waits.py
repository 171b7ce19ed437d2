"""A restarted supervisor shows an adopted dedicated run as it is: waiting, with its
wake time and event types, when the run waits live in its actor's process.

The notices such a run sent while no supervisor listened are lost; recovery asks
each adopted actor what its run waits for (``recovery.learn_waits``) before it
serves anyone. A supervisor over fake actors (tests/unit/fake_actors.py), no Ray.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from pyflow_actors.models import InstanceStatus
from pyflow_actors.runtime.supervisor import Supervisor, recovery
from pyflow_actors.runtime.supervisor.actors import Live

from .fake_actors import FakeBackend
from .test_supervisor import WF, actor, create, run, started, until

pytestmark = pytest.mark.timeout(20)


async def killed(sup: Supervisor) -> None:
    """The supervisor is gone (kill -9): its tasks stop, its actors live on."""
    for task in sup._background:
        task.cancel()
    for live in sup.actors.live.values():
        assert live.monitor is not None
        live.monitor.cancel()
    sup.registry.close()


async def shown(sup: Supervisor, instance_id: str) -> tuple[str, float | None, list[str]]:
    info = await sup.status(WF, instance_id)
    return info.status.value, info.wake_at, info.waiting_for


def test_adopted_runs_waiting_live_show_waiting_right_after_recovery(tmp_path):
    async def scenario() -> None:
        backend = FakeBackend()
        old = await started(tmp_path, backend)
        await create(old, "sleeper", "listener", "busy")
        sleeper, listener, busy = [await actor(backend, i) for i in ("sleeper", "listener", "busy")]
        await killed(old)
        wake_at, deadline = time.time() + 30, time.time() + 60
        sleeper.waits((wake_at, []))  # a short sleep slept in its process
        listener.waits((deadline, ["go"]))  # an event wait before hibernate_after
        busy.waits((deadline, ["go"]))
        busy.waits(None)  # it waited, and works again

        new = await started(tmp_path, backend)  # no waiting for a notice: asked in recovery
        assert await shown(new, "sleeper") == ("waiting", wake_at, [])
        assert await shown(new, "listener") == ("waiting", deadline, ["go"])
        assert await shown(new, "busy") == ("running", None, [])
        waiting = await new.list_instances(WF, InstanceStatus.WAITING.value)
        assert sorted(i.id for i in waiting.instances) == ["listener", "sleeper"]
        stats = await new.stats()
        assert stats["by_status"]["waiting"] == 2
        assert stats["by_status"]["running"] == 1
        assert (await new.get_workflow(WF)).instances["waiting"] == 2

        listener.waits(None)  # its event came: it works again, and says so
        await new.note_wait(WF, "listener", 1, listener.wait_reports, None)
        assert (await shown(new, "listener"))[0] == "running"
        for each in (sleeper, listener, busy):
            each.finish(output='"done"')
        for instance_id in ("sleeper", "listener", "busy"):
            await until(lambda i=instance_id: new.table.require(WF, i).status == "complete")
        for each in (sleeper, listener, busy):
            assert each.calls == ["run:1", "run:1"]  # the same run, re-attached once
        assert len(backend.created) == 3  # no actor made again: no step ran again

    run(scenario)


def test_an_adopted_actor_slow_to_answer_does_not_hold_recovery(tmp_path, monkeypatch):
    monkeypatch.setattr(recovery, "ADOPTED_WAIT_SECONDS", 0.05)
    monkeypatch.setattr(recovery.learn_waits, "__defaults__", (0.05,))

    async def scenario() -> None:
        backend = FakeBackend()
        old = await started(tmp_path, backend)
        await create(old, "slow")
        slow = await actor(backend, "slow")
        await killed(old)
        slow.waits((time.time() + 30, []))
        answer = asyncio.Event()
        asked = slow.current_wait

        async def late() -> tuple[int, int, object]:
            await answer.wait()
            return await asked()

        monkeypatch.setattr(slow, "current_wait", late)
        new = await asyncio.wait_for(started(tmp_path, backend), 2)
        assert (await shown(new, "slow"))[0] == "running"  # not known yet
        answer.set()  # a late answer still counts
        await until(lambda: new._info(new.table.require(WF, "slow")).status == "waiting")

    run(scenario)


def test_a_wait_report_older_than_the_one_taken_or_of_another_generation_is_ignored():
    live = Live(generation=2)
    assert recovery.take_wait_report(live, 2, 3, (100.0, ["go"]))
    assert not recovery.take_wait_report(live, 2, 2, None)  # an older notice came late
    assert not recovery.take_wait_report(live, 1, 9, None)  # the run before a restart
    assert live.waiting == (100.0, ["go"])
    assert recovery.take_wait_report(live, 2, 4, None)
    assert live.waiting is None
