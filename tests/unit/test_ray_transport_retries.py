"""RayTransport's calls sent again across a supervisor restart, without Ray: a real
supervisor (fake instance actors) behind a fake handle whose first send dies with
the supervisor after taking effect; Ray then starts a new one on the same storage."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import ray.exceptions

from pyflow_actors.client import ray_transport
from pyflow_actors.client.ray_transport import RayTransport
from pyflow_actors.errors import (
    EngineOutcomeUnknown,
    EngineUnavailable,
    InvalidTransition,
    PyflowError,
)
from pyflow_actors.models import InstanceStatus, InstanceStatusInfo
from pyflow_actors.runtime.supervisor import Supervisor

from .fake_actors import FakeBackend
from .test_control_request_ids import killed_and_restarted
from .test_supervisor import WF, actor, create, started

pytestmark = pytest.mark.timeout(30)


class _Method:
    def __init__(self, reply: Any) -> None:
        self.reply = reply

    def remote(self, **kwargs: Any) -> Any:
        return self.reply(**kwargs)


class RestartingSupervisor:
    """The supervisor as a Ray handle shows it. With ``dies_once``, the first control
    call takes effect, then the supervisor is killed (kill -9) before it answers."""

    def __init__(self, sup: Supervisor, tmp_path: Path, backend: FakeBackend) -> None:
        self.sup, self.tmp_path, self.backend = sup, tmp_path, backend
        self.dies_once, self.request_ids = False, list[str]()
        self.control = _Method(self._control)

    async def _control(self, **kwargs: Any) -> InstanceStatusInfo:
        self.request_ids.append(kwargs["request_id"])
        try:
            reply = await self.sup.control(**kwargs)
        except PyflowError as exc:  # raised in the actor: what Ray hands the caller
            raise ray.exceptions.RayTaskError("control", "", exc) from None
        if self.dies_once:
            self.dies_once = False
            self.sup = await killed_and_restarted(self.sup, self.tmp_path, self.backend)
            raise ray.exceptions.RayActorError()
        return reply


class FakeTransport(RayTransport):
    """Finds the fake again where the real one looks the restarted supervisor up."""

    def __init__(self, supervisor: RestartingSupervisor) -> None:
        super().__init__(supervisor)
        self.supervisor = supervisor

    def _resolve(self) -> Any:
        return self.supervisor


async def _running(tmp_path: Path, backend: FakeBackend) -> RestartingSupervisor:
    sup = await started(tmp_path, backend)
    await create(sup, "i-1")
    await actor(backend, "i-1")
    return RestartingSupervisor(sup, tmp_path, backend)


def test_a_restart_sent_again_after_it_took_effect_is_applied_once(tmp_path: Path) -> None:
    async def scenario() -> None:
        backend = FakeBackend()
        supervisor = await _running(tmp_path, backend)
        supervisor.dies_once = True
        info = await FakeTransport(supervisor).control(WF, "i-1", "restart")
        ids = supervisor.request_ids
        assert len(ids) == 2 and ids[0] == ids[1]  # one call: one request id, sent twice
        await actor(backend, "i-1", 2)  # made by the killed supervisor or the new one
        await asyncio.sleep(0.05)  # a second restart would have run generation 3 by now
        made = backend.actors_of((WF, "i-1"))
        runs = {call for one in made for call in one.calls if call.startswith("run:")}
        assert runs == {"run:1", "run:2"}
        assert supervisor.sup.table.require(WF, "i-1").generation == 2
        assert info.status in (InstanceStatus.QUEUED, InstanceStatus.RUNNING)

    asyncio.run(asyncio.wait_for(scenario(), 20))


def test_a_terminate_sent_again_after_it_took_effect_answers_terminated(tmp_path: Path) -> None:
    async def scenario() -> None:
        supervisor = await _running(tmp_path, FakeBackend())
        supervisor.dies_once = True
        info = await FakeTransport(supervisor).control(WF, "i-1", "terminate")
        assert (info.status, len(supervisor.request_ids)) == (InstanceStatus.TERMINATED, 2)

    asyncio.run(asyncio.wait_for(scenario(), 20))


def test_each_control_call_has_its_own_request_id(tmp_path: Path) -> None:
    async def scenario() -> None:
        backend = FakeBackend()
        transport = FakeTransport(await _running(tmp_path, backend))
        await transport.control(WF, "i-1", "restart")
        await actor(backend, "i-1", 2)
        await transport.control(WF, "i-1", "restart")  # a second call: a second restart
        await actor(backend, "i-1", 3)
        ids = transport.supervisor.request_ids
        assert len(ids) == len(set(ids)) == 2

    asyncio.run(asyncio.wait_for(scenario(), 20))


@pytest.mark.parametrize("action", ["terminate", "pause"])
def test_a_control_of_a_finished_instance_sent_once_is_still_refused(
    tmp_path: Path, action: str
) -> None:
    async def scenario() -> None:
        supervisor = await _running(tmp_path, FakeBackend())
        await supervisor.sup.control(WF, "i-1", "terminate")
        with pytest.raises(InvalidTransition):
            await FakeTransport(supervisor).control(WF, "i-1", action)  # type: ignore[arg-type]
        assert len(supervisor.request_ids) == 1

    asyncio.run(asyncio.wait_for(scenario(), 20))


class DyingSupervisor:
    """Every send dies with the supervisor (``lost``) or finds no supervisor to
    send to (the name not registered again yet)."""

    def __init__(self, lost: bool) -> None:
        self.lost, self.sends = lost, 0
        self.create = _Method(self._create)

    async def _create(self, **kwargs: Any) -> None:
        self.sends += 1
        raise ray.exceptions.RayActorError()


class GoneTransport(RayTransport):
    def __init__(self, supervisor: DyingSupervisor) -> None:
        super().__init__(None)
        self.supervisor = supervisor

    def _resolve(self) -> Any:
        if not self.supervisor.lost:
            raise EngineUnavailable("no pyflow engine in this Ray cluster")
        return self.supervisor


def _create_until_given_up(supervisor: DyingSupervisor) -> None:
    asyncio.run(GoneTransport(supervisor)._call("create", workflow="wf"))


@pytest.mark.parametrize(
    ("lost", "answer"),
    [
        # a send died with the supervisor: it may have taken effect before
        (True, EngineOutcomeUnknown),
        # no supervisor to send to (its name not registered again): nothing sent
        (False, EngineUnavailable),
    ],
)
def test_a_call_given_up_says_whether_a_send_may_have_taken_effect(
    monkeypatch: pytest.MonkeyPatch, lost: bool, answer: type[EngineUnavailable]
) -> None:
    monkeypatch.setattr(ray_transport, "RECONNECT_SECONDS", 0.3)
    supervisor = DyingSupervisor(lost=lost)
    with pytest.raises(EngineUnavailable) as raised:
        _create_until_given_up(supervisor)
    assert type(raised.value) is answer and raised.value.http_status == 503
    assert (supervisor.sends >= 2) if lost else (supervisor.sends == 0)
    assert ("may have taken effect" in str(raised.value)) == lost
