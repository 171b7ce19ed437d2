"""Every call the supervisor makes on an instance actor goes through here.

As Ray Serve's ``ActorReplicaWrapper``: the rest of the supervisor sees an
:class:`InstanceActorHandle` with plain async methods and never touches Ray.
Unit tests swap the :class:`ActorBackend` for a fake and drive scheduling,
alarms, events, control and recovery in milliseconds, without a cluster.

Errors come out translated: a dead actor process raises
:class:`InstanceActorGone`; an error raised inside the actor comes out as
itself (Ray's task-error wrapper removed).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
from typing import Any, Protocol, TypeVar

from ...constants import actor_name
from ...engine import EventRecord
from ...engine.waits import WaitSummary
from ...errors import InstanceActorGone
from ...models import StepInfo
from ..protocol import InstanceOutcome, InstanceSetup, RunRequest

CONTROL_TIMEOUT = 15.0  # seconds for a control call (pause, terminate...) to answer
T = TypeVar("T")


class InstanceActorHandle(Protocol):
    """One live instance actor, as the supervisor sees it."""

    async def prepare(self) -> None: ...
    async def run(self, request: RunRequest) -> InstanceOutcome: ...
    async def deliver(self, events: list[EventRecord]) -> bool: ...
    async def pause(self) -> None: ...
    async def unpause(self) -> None: ...
    async def terminate(self, rollback: bool = False) -> None: ...
    async def cancel(self) -> None: ...
    async def describe(self) -> list[StepInfo]: ...
    async def pid(self) -> int: ...
    async def current_wait(self) -> tuple[int, int, WaitSummary | None]: ...
    def kill(self) -> None: ...


class ActorBackend(Protocol):
    """Creates and finds instance actors."""

    async def create(self, setup: InstanceSetup) -> InstanceActorHandle:
        """A new actor for the instance; never two at once for one instance."""
        ...

    def find(self, workflow: str, instance_id: str) -> InstanceActorHandle | None:
        """The instance's actor if one is alive (after a supervisor restart)."""
        ...


class RayInstanceActor:
    """An :class:`InstanceActorHandle` over a Ray actor handle."""

    def __init__(self, handle: Any) -> None:
        self._handle = handle

    async def prepare(self) -> None:
        await self._call(self._handle.prepare.remote())

    async def run(self, request: RunRequest) -> InstanceOutcome:
        return await self._call(self._handle.run.remote(request))

    async def deliver(self, events: list[EventRecord]) -> bool:
        return await self._call(self._handle.deliver.remote(events))

    async def pause(self) -> None:
        await self._control(self._handle.pause.remote())

    async def unpause(self) -> None:
        await self._control(self._handle.unpause.remote())

    async def terminate(self, rollback: bool = False) -> None:
        await self._control(self._handle.terminate.remote(rollback))

    async def cancel(self) -> None:
        await self._control(self._handle.cancel.remote())

    async def describe(self) -> list[StepInfo]:
        return await self._control(self._handle.describe.remote())

    async def pid(self) -> int:
        return await self._control(self._handle.pid.remote())

    async def current_wait(self) -> tuple[int, int, WaitSummary | None]:
        """``(generation, report, wait)``: what its run last said it waits for."""
        return await self._control(self._handle.current_wait.remote())

    def kill(self) -> None:
        import ray

        with contextlib.suppress(Exception):  # already gone
            ray.kill(self._handle, no_restart=True)

    async def _control(self, ref: Awaitable[T]) -> T:
        try:
            return await asyncio.wait_for(self._call(ref), CONTROL_TIMEOUT)
        except asyncio.TimeoutError:
            raise InstanceActorGone("the instance's actor did not answer in time") from None

    @staticmethod
    async def _call(ref: Awaitable[T]) -> T:
        from ray.exceptions import RayActorError, RayTaskError

        try:
            return await ref
        except RayActorError as exc:
            raise InstanceActorGone(f"the instance's actor died: {exc}") from None
        except RayTaskError as exc:
            cause = exc.cause if isinstance(exc.cause, BaseException) else None
            if cause is None:
                raise
            raise cause from None


class RayActorBackend:
    """Instance actors as detached Ray named actors, one per active instance."""

    def __init__(self, namespace: str) -> None:
        self.namespace = namespace
        self._remote: Any = None

    async def create(self, setup: InstanceSetup) -> InstanceActorHandle:
        options = {
            "name": actor_name(setup.workflow, setup.instance_id),
            "namespace": self.namespace,
            "lifetime": "detached",
            "num_cpus": 0,
            "max_restarts": 0,
            "max_concurrency": 64,
            # Spread instances over the cluster's nodes (no effect on one node).
            "scheduling_strategy": "SPREAD",
        }
        delay = 0.02
        while True:
            try:
                return RayInstanceActor(self._actor_class().options(**options).remote(setup))
            except ValueError:
                # The name is still held by an earlier actor of this instance
                # on its way out (it hibernated a moment ago). Never run two:
                # make sure it is dead, wait for the name, then go on.
                old = self.find(setup.workflow, setup.instance_id)
                if old is not None:
                    old.kill()
                await asyncio.sleep(delay)
                delay = min(delay * 2, 0.5)

    def find(self, workflow: str, instance_id: str) -> InstanceActorHandle | None:
        import ray

        try:
            handle = ray.get_actor(actor_name(workflow, instance_id), namespace=self.namespace)
        except ValueError:
            return None
        return RayInstanceActor(handle)

    def _actor_class(self) -> Any:
        if self._remote is None:
            import ray

            from ..instance import InstanceActor

            self._remote = ray.remote(InstanceActor)
        return self._remote
