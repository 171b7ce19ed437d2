"""Describe of a queued instance whose actor the warm pool is still starting asks
that actor once it is up, rather than reading the journal file beside it.

The warm actor may hold the journal open before it has answered its prepare: a
read of the file beside it waited for the lock, then failed (a 500 seen in an
API test under load). Fake actors (tests/unit/fake_actors.py), no Ray.
"""

from __future__ import annotations

import asyncio

import pytest

from pyflow_actors.models import InstanceStatus

from .fake_actors import FakeBackend
from .test_supervisor import WF, actor, create, run, started, until

pytestmark = pytest.mark.timeout(20)

SETTLE = 0.3  # seconds in which a describe that does not wait would have answered


def test_describe_of_a_queued_instance_waits_for_its_warm_actor_still_starting(tmp_path):
    async def scenario() -> None:
        backend = FakeBackend()
        sup = await started(tmp_path, backend, max_running=1, warm_actors=4)
        await create(sup, "blocker")
        await actor(backend, "blocker")
        backend.gate.clear()  # the queued instance's warm actor is slow to start
        await create(sup, "queued")
        await until(lambda: (WF, "queued") in sup.warm)
        described = asyncio.ensure_future(sup.describe(WF, "queued"))
        await asyncio.sleep(SETTLE)
        assert not described.done()  # not read from the file beside it
        backend.gate.set()
        warm = await actor(backend, "queued")
        await until(lambda: warm.describing == 1)  # asked its warm actor
        warm.open()
        assert (await described).status.status == InstanceStatus.QUEUED

    run(scenario)
