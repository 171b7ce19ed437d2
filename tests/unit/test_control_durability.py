"""A control command answered 200 is durable: while the storage refuses writes,
pause / resume / terminate / restart answer 503 ``storage.unavailable``
(found by the chaos soak: a terminate answered 200 on a full disk was lost with
the supervisor that held it in memory). Supervisor on fake actors, no Ray."""

from __future__ import annotations

from typing import Any

import pytest

from pyflow_actors.errors import StorageUnavailable
from pyflow_actors.models import InstanceStatus

from .fake_actors import FakeBackend
from .test_supervisor import actor, create, run, started, status

pytestmark = pytest.mark.timeout(20)


def test_a_command_the_storage_cannot_record_is_refused_and_one_before_it_is_not_confirmed(
    tmp_path,
):
    async def scenario() -> None:
        backend = FakeBackend()
        sup = await started(tmp_path, backend, max_running=1)
        await create(sup, "a", "b")
        await actor(backend, "a")
        assert status(sup, "b") == InstanceStatus.QUEUED
        save = sup.registry.save

        def full(*args: Any, **kwargs: Any) -> None:
            raise StorageUnavailable("the storage at /x cannot be written (No space left)")

        sup.registry.save = full  # type: ignore[method-assign]
        # The write of this terminate is refused: applied in memory, not confirmed.
        with pytest.raises(StorageUnavailable, match="not yet written"):
            await sup.control("echo", "b", "terminate")
        # While that change waits for the storage, a new command changes nothing.
        with pytest.raises(StorageUnavailable, match="nothing of this call was recorded"):
            await sup.control("echo", "a", "pause")
        assert status(sup, "a") == InstanceStatus.RUNNING
        # Storage back: the waiting change is written, and commands are answered again.
        sup.registry.save = save  # type: ignore[method-assign]
        sup.table.flush()
        stored = {r.id: r.status for r in sup.registry.instances()}
        assert stored["b"] == InstanceStatus.TERMINATED
        info = await sup.control("echo", "a", "pause")
        assert info.status == InstanceStatus.WAITING_FOR_PAUSE

    run(scenario)
