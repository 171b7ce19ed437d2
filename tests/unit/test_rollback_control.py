"""Terminate with rollback in the supervisor, without Ray: a live actor is told and
its run ends terminated; a hibernated instance gets a run that rolls back; a
death mid-rollback starts another; the status shows rollingBack meanwhile."""

from __future__ import annotations

import time

import pytest

from pyflow_actors.errors import InvalidTransition, ValidationError
from pyflow_actors.models import InstanceStatus
from pyflow_actors.runtime.protocol import OutcomeKind

from .fake_actors import FakeBackend
from .test_supervisor import WF, actor, create, run, started, status, until

pytestmark = pytest.mark.timeout(30)


def test_a_live_instance_is_told_to_roll_back_and_ends_terminated(tmp_path):
    async def scenario() -> None:
        backend = FakeBackend()
        sup = await started(tmp_path, backend)
        await create(sup, "t")
        live = await actor(backend, "t")

        await sup.control(WF, "t", "terminate", rollback=True)

        assert "terminate with rollback" in live.calls
        await until(lambda: status(sup, "t") == InstanceStatus.TERMINATED)
        assert sup.table.require(WF, "t").terminated_by == "api"

    run(scenario)


def test_a_hibernated_instance_gets_a_run_that_rolls_back_even_across_a_death(tmp_path):
    async def scenario() -> None:
        backend = FakeBackend()
        sup = await started(tmp_path, backend)
        await create(sup, "h")
        (await actor(backend, "h")).hibernate(wake_at=time.time() + 3600)
        await until(lambda: status(sup, "h") == InstanceStatus.WAITING)

        shown = await sup.control(WF, "h", "terminate", rollback=True)

        assert shown.status == InstanceStatus.ROLLING_BACK
        second = await actor(backend, "h", 2)
        assert second.requests[-1].rollback is True
        assert (await sup.status(WF, "h")).status == InstanceStatus.ROLLING_BACK
        second.die()  # killed mid-rollback: another run goes on with it
        third = await actor(backend, "h", 3)
        assert third.requests[-1].rollback is True
        third.finish(OutcomeKind.TERMINATED)
        await until(lambda: status(sup, "h") == InstanceStatus.TERMINATED)
        listed = await sup.list_instances(WF, status="rollingBack")
        assert listed.total == 0

    run(scenario)


def test_rollback_is_only_for_terminating_an_instance_not_final(tmp_path):
    async def scenario() -> None:
        backend = FakeBackend()
        sup = await started(tmp_path, backend)
        await create(sup, "p", "done")
        await actor(backend, "p")
        with pytest.raises(ValidationError, match="only for a terminate"):
            await sup.control(WF, "p", "pause", rollback=True)
        (await actor(backend, "done")).finish()
        await until(lambda: status(sup, "done") == InstanceStatus.COMPLETE)
        with pytest.raises(InvalidTransition):
            await sup.control(WF, "done", "terminate", rollback=True)

    run(scenario)


def test_a_restart_after_a_terminate_with_rollback_runs_normally(tmp_path):
    async def scenario() -> None:
        backend = FakeBackend()
        sup = await started(tmp_path, backend)
        await create(sup, "r")
        await actor(backend, "r")
        await sup.control(WF, "r", "terminate", rollback=True)
        await until(lambda: status(sup, "r") == InstanceStatus.TERMINATED)

        await sup.control(WF, "r", "restart")

        again = await actor(backend, "r", 2)
        assert again.requests[-1].rollback is False
        assert sup.table.require(WF, "r").rollback_requested is False

    run(scenario)
