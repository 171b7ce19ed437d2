"""A control command sent again with its request id is answered, not applied twice.

The Ray transport sends a call again when the supervisor died while handling it
(kill -9: Ray restarts it). A control carries a request id, the same for every
send of one call; the supervisor writes it on the instance row in the write that
applies the control, so a restarted supervisor still knows it. Supervisor on
fake actors (tests/unit/fake_actors.py), real registry, no Ray.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from pyflow_actors.errors import InvalidTransition
from pyflow_actors.models import InstanceStatus, StepInfo
from pyflow_actors.runtime.protocol import OutcomeKind
from pyflow_actors.runtime.supervisor import Supervisor
from pyflow_actors.storage.registry import Registry

from .fake_actors import FakeBackend
from .test_supervisor import WF, actor, create, run, started, status, until

pytestmark = pytest.mark.timeout(20)


async def killed_and_restarted(
    old: Supervisor, tmp_path: Path, backend: FakeBackend, **config: Any
) -> Supervisor:
    """kill -9 of ``old`` (nothing more of it runs, its memory is gone), then the
    supervisor Ray starts again on the same storage (it adopts the live actors)."""
    for task in old._background:
        task.cancel()
    for live in old.actors.live.values():
        if live.monitor is not None:
            live.monitor.cancel()
    old.registry.close()
    return await started(tmp_path, backend, **config)


def generation(sup: Supervisor, instance_id: str) -> int:
    return sup.table.require(WF, instance_id).generation


def stored(tmp_path: Path, instance_id: str) -> Any:
    """The row as the registry file holds it (read after the supervisor closed it)."""
    registry = Registry(tmp_path)
    try:
        return next(r for r in registry.instances() if r.id == instance_id)
    finally:
        registry.close()


def test_a_restart_sent_again_runs_one_new_generation_and_answers_the_current_status(tmp_path):
    async def scenario() -> None:
        backend = FakeBackend()
        sup = await started(tmp_path, backend)
        await create(sup, "r")
        await actor(backend, "r")
        await sup.control(WF, "r", "restart", request_id="req-1")
        second = await actor(backend, "r", 2)
        again = await sup.control(WF, "r", "restart", request_id="req-1")
        await asyncio.sleep(0.02)  # a second restart would make its actor by now
        assert len(backend.actors_of((WF, "r"))) == 2 and not second.killed
        # A restarted instance resumes: its cold actor is also asked to prepare (start_order.py).
        assert generation(sup, "r") == 2 and sorted(second.calls) == ["prepare", "run:2"]
        assert again.status == InstanceStatus.RUNNING == status(sup, "r")

    run(scenario)


def test_a_restart_with_a_new_request_id_is_applied_again(tmp_path):
    async def scenario() -> None:
        backend = FakeBackend()
        sup = await started(tmp_path, backend)
        await create(sup, "r")
        await actor(backend, "r")
        await sup.control(WF, "r", "restart", request_id="req-1")
        await actor(backend, "r", 2)
        await sup.control(WF, "r", "restart", request_id="req-2")
        third = await actor(backend, "r", 3)
        await until(lambda: "run:3" in third.calls)
        assert generation(sup, "r") == 3 and sorted(third.calls) == ["prepare", "run:3"]

    run(scenario)


def test_a_restart_sent_again_to_a_restarted_supervisor_is_not_applied_again(tmp_path):
    async def scenario() -> None:
        backend = FakeBackend()
        sup = await started(tmp_path, backend)
        await create(sup, "r")
        await actor(backend, "r")
        await sup.control(WF, "r", "restart", request_id="req-1")
        second = await actor(backend, "r", 2)
        # Killed before it answered: the new supervisor has the id from the registry.
        new = await killed_and_restarted(sup, tmp_path, backend)
        # Adopted: the same generation run again (a resumed cold actor is asked to prepare too).
        await until(lambda: sorted(second.calls) == ["prepare", "run:2", "run:2"])
        again = await new.control(WF, "r", "restart", request_id="req-1")
        await asyncio.sleep(0.02)
        assert len(backend.actors_of((WF, "r"))) == 2 and not second.killed
        assert generation(new, "r") == 2 and again.status == InstanceStatus.RUNNING

    run(scenario)


def test_a_terminate_sent_again_after_it_took_effect_answers_terminated_not_409(tmp_path):
    async def scenario() -> None:
        backend = FakeBackend()
        sup = await started(tmp_path, backend)
        await create(sup, "t")
        await actor(backend, "t")
        await sup.control(WF, "t", "terminate", request_id="term-1")
        new = await killed_and_restarted(sup, tmp_path, backend)
        again = await new.control(WF, "t", "terminate", request_id="term-1")
        assert again.status == InstanceStatus.TERMINATED
        with pytest.raises(InvalidTransition):  # another call: refused as before
            await new.control(WF, "t", "terminate", request_id="term-2")

    run(scenario)


def test_a_pause_sent_again_after_the_instance_ended_answers_its_status_not_409(tmp_path):
    async def scenario() -> None:
        backend = FakeBackend()
        sup = await started(tmp_path, backend)
        await create(sup, "p")
        running = await actor(backend, "p")
        paused = await sup.control(WF, "p", "pause", request_id="pause-1")
        assert paused.status == InstanceStatus.WAITING_FOR_PAUSE
        running.finish(output='"last step done"')  # its step in flight was its last
        await until(lambda: status(sup, "p") == InstanceStatus.COMPLETE)
        again = await sup.control(WF, "p", "pause", request_id="pause-1")
        assert again.status == InstanceStatus.COMPLETE
        with pytest.raises(InvalidTransition):
            await sup.control(WF, "p", "pause", request_id="pause-2")

    run(scenario)


def test_the_request_id_is_written_with_the_change_it_applies(tmp_path):
    """The write that makes generation 2 carries the id; no write carries it before."""

    async def scenario() -> None:
        backend = FakeBackend()
        sup = await started(tmp_path, backend)
        await create(sup, "r")
        await actor(backend, "r")
        writes: list[tuple[int, str | None]] = []
        save, save_many = sup.registry.save, sup.registry.save_many

        def record(row: Any, messages: Any = None) -> None:
            writes.append((row.generation, row.control_request_id))
            save(row, messages)

        def record_many(changes: Any) -> None:
            writes.extend((row.generation, row.control_request_id) for row, _ in changes)
            save_many(changes)

        sup.registry.save = record  # type: ignore[method-assign]
        sup.registry.save_many = record_many  # type: ignore[method-assign]
        await sup.control(WF, "r", "restart", request_id="req-1")
        assert (2, "req-1") in writes
        assert all(request_id == "req-1" for gen, request_id in writes if gen == 2)
        assert all(request_id is None for gen, request_id in writes if gen == 1)
        await sup.shutdown()
        sup.registry.close()
        row = stored(tmp_path, "r")
        assert (row.generation, row.control_request_id) == (2, "req-1")

    run(scenario)


def test_a_refused_control_records_no_request_id(tmp_path):
    async def scenario() -> None:
        backend = FakeBackend()
        sup = await started(tmp_path, backend)
        await create(sup, "done")
        (await actor(backend, "done")).finish()
        await until(lambda: status(sup, "done") == InstanceStatus.COMPLETE)
        for _ in range(2):  # sent again: still refused (it never took effect)
            with pytest.raises(InvalidTransition):
                await sup.control(WF, "done", "terminate", request_id="term-1")
        assert sup.table.require(WF, "done").control_request_id is None

    run(scenario)


def test_a_restart_from_a_step_sent_again_is_answered_before_its_step_is_looked_up(tmp_path):
    """The new generation has not run that step yet: looked up again, it would be a 404."""

    async def scenario() -> None:
        backend = FakeBackend()
        sup = await started(tmp_path, backend)
        await create(sup, "r")
        first = await actor(backend, "r")
        first.steps = [StepInfo(type="step", name="charge", start=1.0, finished=True)]
        first.open()
        target = {"name": "charge"}
        await sup.control(WF, "r", "restart", target, request_id="from-1")
        second = await actor(backend, "r", 2)
        second.open()  # it describes no step yet
        again = await sup.control(WF, "r", "restart", target, request_id="from-1")
        assert again.status == InstanceStatus.RUNNING and generation(sup, "r") == 2
        assert [r.keep_before for r in second.requests] == ["charge"]

    run(scenario)


def test_a_terminate_with_rollback_sent_again_does_not_queue_another_rollback(tmp_path):
    async def scenario() -> None:
        backend = FakeBackend()
        sup = await started(tmp_path, backend)
        await create(sup, "h")
        (await actor(backend, "h")).hibernate(wake_at=time.time() + 3600)
        await until(lambda: status(sup, "h") == InstanceStatus.WAITING)
        await sup.control(WF, "h", "terminate", rollback=True, request_id="undo-1")
        rolling = await actor(backend, "h", 2)
        rolling.finish(OutcomeKind.TERMINATED)  # its handlers ran: terminated
        await until(lambda: status(sup, "h") == InstanceStatus.TERMINATED)
        new = await killed_and_restarted(sup, tmp_path, backend)
        again = await new.control(WF, "h", "terminate", rollback=True, request_id="undo-1")
        await asyncio.sleep(0.02)
        assert again.status == InstanceStatus.TERMINATED
        assert len(backend.actors_of((WF, "h"))) == 2

    run(scenario)


def test_a_restart_sent_again_while_its_first_send_is_applied_waits_for_it(tmp_path):
    """Ray may report the supervisor unreachable (not dead) while it still applies the
    first send: the second send of the call arrives mid-restart and must not add one."""

    async def scenario() -> None:
        backend = FakeBackend()
        sup = await started(tmp_path, backend)
        await create(sup, "r")
        first = await actor(backend, "r")
        gate, cancelling = asyncio.Event(), asyncio.Event()
        cancel = first.cancel

        async def slow_cancel() -> None:  # the first send stops the run, slowly
            cancelling.set()
            await gate.wait()
            await cancel()

        first.cancel = slow_cancel  # type: ignore[method-assign]
        one = asyncio.ensure_future(sup.control(WF, "r", "restart", request_id="req-1"))
        await cancelling.wait()
        two = asyncio.ensure_future(sup.control(WF, "r", "restart", request_id="req-1"))
        await asyncio.sleep(0.01)  # the second send is in, waiting
        gate.set()
        answers = await asyncio.gather(one, two)
        await actor(backend, "r", 2)
        await asyncio.sleep(0.02)
        assert len(backend.actors_of((WF, "r"))) == 2 and generation(sup, "r") == 2
        assert {a.status for a in answers} <= {InstanceStatus.QUEUED, InstanceStatus.RUNNING}

    run(scenario)
