"""RayTransport's calls sent again across a supervisor restart, without Ray: a fake
supervisor handle whose first send dies with the supervisor after taking effect."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import ray.exceptions

from pyflow_actors.client import ray_transport
from pyflow_actors.client.ray_transport import RayTransport
from pyflow_actors.errors import EngineOutcomeUnknown, EngineUnavailable, InvalidTransition
from pyflow_actors.models import InstanceStatus, InstanceStatusInfo

pytestmark = pytest.mark.timeout(30)


class _Method:
    def __init__(self, reply: Any) -> None:
        self.reply = reply

    def remote(self, **kwargs: Any) -> Any:
        return self.reply(**kwargs)


class FakeSupervisor:
    """Terminates an instance once; its first control call dies after doing so
    (kill -9 before it answered) when ``dies_once`` is set."""

    def __init__(self, status: InstanceStatus, dies_once: bool) -> None:
        self.status_now, self.dies_once, self.sends = status, dies_once, 0
        self.control = _Method(self._control)
        self.status = _Method(self._status)

    def _info(self) -> InstanceStatusInfo:
        return InstanceStatusInfo(id="i-1", workflow="wf", status=self.status_now, created_at=0.0)

    async def _control(self, **kwargs: Any) -> InstanceStatusInfo:
        self.sends += 1
        if self.status_now == InstanceStatus.TERMINATED:
            cause = InvalidTransition("instance 'i-1' is already terminated")
            raise ray.exceptions.RayTaskError("control", "", cause)
        if kwargs["action"] == "terminate":
            self.status_now = InstanceStatus.TERMINATED
        if self.dies_once:
            self.dies_once = False
            raise ray.exceptions.RayActorError()
        return self._info()

    async def _status(self, **kwargs: Any) -> InstanceStatusInfo:
        return self._info()


class FakeTransport(RayTransport):
    """Finds the fake again where the real one looks the restarted supervisor up."""

    def __init__(self, supervisor: FakeSupervisor) -> None:
        super().__init__(supervisor)
        self.supervisor = supervisor

    def _resolve(self) -> Any:
        return self.supervisor


def _terminate(supervisor: FakeSupervisor) -> InstanceStatusInfo:
    return asyncio.run(FakeTransport(supervisor).control("wf", "i-1", "terminate"))


def test_a_terminate_sent_again_after_it_took_effect_answers_terminated():
    supervisor = FakeSupervisor(InstanceStatus.RUNNING, dies_once=True)
    info = _terminate(supervisor)
    assert (info.status, supervisor.sends) == (InstanceStatus.TERMINATED, 2)


def test_a_terminate_of_a_finished_instance_sent_once_is_still_refused():
    supervisor = FakeSupervisor(InstanceStatus.TERMINATED, dies_once=False)
    with pytest.raises(InvalidTransition):
        _terminate(supervisor)
    assert supervisor.sends == 1


def test_a_pause_sent_again_after_a_refusal_stays_refused():
    supervisor = FakeSupervisor(InstanceStatus.TERMINATED, dies_once=True)
    with pytest.raises(InvalidTransition):
        asyncio.run(FakeTransport(supervisor).control("wf", "i-1", "pause"))


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
