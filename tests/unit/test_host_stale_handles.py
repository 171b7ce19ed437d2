"""A late kill of an instance's earlier handle on a shared host changes nothing.

The supervisor lets go of a handle after the fact (a control command's grace
period, a warm handle made too late, an adopted one): by then the instance
may be placed again, on the same host. Found by the chaos soak (seed 16, a
step run twice with no fault near it): the pool forgot the new placement, so
its host looked empty, was retired after ``SHRINK_AFTER`` and killed with the
instance's step in flight; an adopted handle's kill (token "") evicted the new
runner outright.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from pyflow_actors.runtime.supervisor.hosts import SHRINK_AFTER, SharedHostBackend

from .fake_hosts import InProcessHosts, echo_setup

pytestmark = pytest.mark.timeout(30)

KEY = ("echo", "e")


def backend_over(hosts: InProcessHosts) -> SharedHostBackend:
    return SharedHostBackend(
        "test", spawn=hosts.spawn, discover=hosts.discover, max_hosts=lambda: 2,
        kill_host=hosts.kill, per_host=1,
    )  # fmt: skip


def on_host(tmp_path: Path) -> Callable[[SharedHostBackend, str], Awaitable[Any]]:
    """Create a handle and have it on its host (a first call other than run places it)."""

    async def place(backend: SharedHostBackend, instance_id: str) -> Any:
        handle = await backend.create(echo_setup(tmp_path, instance_id))
        await handle.prepare()
        return handle

    return place


def test_a_late_kill_of_an_earlier_placement_keeps_the_new_one_and_its_host(tmp_path):
    async def scenario() -> None:
        hosts, placed = InProcessHosts(), on_host(tmp_path)
        backend = backend_over(hosts)
        earlier = await placed(backend, "e")
        await placed(backend, "other")  # a second host, busy
        (entry,) = [h for h in backend.pool.hosts.values() if KEY in h.placed]
        earlier.kill()  # the instance ended (hibernated): let go
        again = await placed(backend, "e")  # placed anew: the same host
        assert backend.pool.where[KEY] is entry
        earlier.kill()  # the earlier handle let go once more, late
        assert KEY in entry.placed and backend.pool.where[KEY] is entry
        later = time.monotonic() + SHRINK_AFTER + 1
        assert entry not in backend.pool.idle(later)  # never retired with it running
        assert entry.actor.host.keys().count(KEY) == 1  # it still runs there
        again.kill()
        assert KEY not in entry.placed
        await asyncio.sleep(0)
        await hosts.close()

    asyncio.run(asyncio.wait_for(scenario(), 20))


def test_a_late_kill_of_an_adopted_handle_leaves_the_new_runner_alone(tmp_path):
    async def scenario() -> None:
        hosts, placed = InProcessHosts(), on_host(tmp_path)
        first = backend_over(hosts)
        await placed(first, "e")
        # The supervisor restarts: its new backend finds the instance on its host.
        backend = backend_over(hosts)
        adopted = backend.find(*KEY)
        assert adopted is not None
        adopted.kill()  # its run ended: let go
        await asyncio.sleep(0.05)
        await placed(backend, "e")  # placed anew
        adopted.kill()  # late, once more: token "" would evict whatever the host holds
        await asyncio.sleep(0.05)
        (entry,) = [h for h in backend.pool.hosts.values() if KEY in h.placed]
        assert entry.actor.host.keys().count(KEY) == 1  # it still runs there
        await hosts.close()

    asyncio.run(asyncio.wait_for(scenario(), 20))
