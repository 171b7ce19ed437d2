"""Shared host actors without Ray: real :class:`InstanceHost` s called in-process.

``actor.method.remote(*args)`` returns an awaitable, as a Ray actor handle's
does, so :class:`SharedHostBackend` runs unchanged over them. ``die()``
plays a kill -9: the host's journals are let go at once (as a dead
process's file locks are), its runners stop, and every call in flight and
every later call raises ``RayActorError``.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

from ray.exceptions import RayActorError

from pyflow_actors.config import WorkflowSpec
from pyflow_actors.limits import DEFAULT_LIMITS
from pyflow_actors.runtime.host import InstanceHost
from pyflow_actors.runtime.protocol import InstanceSetup
from tests import workflows as w


def echo_setup(tmp_path: Path, instance_id: str = "e") -> InstanceSetup:
    """An ``echo`` instance to place on a host, its journal under ``tmp_path``."""
    return InstanceSetup(
        workflow="echo",
        instance_id=instance_id,
        journal_path=str(tmp_path / "journals" / "echo" / f"{instance_id}.duckdb"),
        spec=WorkflowSpec.of("echo", w.Echo),
        bindings={},
        vars={},
        hibernate_after=1.0,
        limits=DEFAULT_LIMITS,
        code_paths=(),
        namespace="test",
        supervisor_name="supervisor",
    )


class InProcessHost:
    def __init__(self, name: str) -> None:
        self.name = name
        self.host = InstanceHost(name)
        self.dead = False
        self.calls: list[str] = []  # the methods called, in order (as a supervisor sent them)

    def __getattr__(self, method: str) -> _Method:
        return _Method(self, method)

    async def call(self, method: str, *args: Any) -> Any:
        self.calls.append(method)
        if self.dead:
            raise RayActorError()
        try:
            result = await self._invoke(method, *args)
        except Exception:
            if self.dead:
                raise RayActorError() from None
            raise
        if self.dead:  # it died while the call was in flight: no answer comes
            raise RayActorError()
        return result

    async def _invoke(self, method: str, *args: Any) -> Any:
        result = getattr(self.host, method)(*args)
        return await result if inspect.isawaitable(result) else result

    async def die(self) -> None:
        self.dead = True
        for runner in self.host._runners.values():  # a dead process's files are let go
            if runner._journal is not None:
                runner._journal.close()
        await self.host.close()


class _Method:
    def __init__(self, owner: InProcessHost, method: str) -> None:
        self.owner, self.method = owner, method

    def remote(self, *args: Any) -> Any:
        return self.owner.call(self.method, *args)


class InProcessHosts:
    """The spawner, discovery and killer a :class:`SharedHostBackend` is given."""

    def __init__(self) -> None:
        self.hosts: list[InProcessHost] = []
        self.killed: list[InProcessHost] = []

    def spawn(self, name: str) -> InProcessHost:
        host = InProcessHost(name)
        self.hosts.append(host)
        return host

    def discover(self) -> list[tuple[str, Any, list[tuple[str, str]]]]:
        return [(h.name, h, h.host.keys()) for h in self.hosts if not h.dead]

    def kill(self, actor: Any) -> None:
        self.killed.append(actor)
        actor.dead = True

    async def close(self) -> None:
        for host in self.hosts:
            await host.host.close()
