"""A burst of alarms is one registry commit between the alarm and the first call:
woken and admitted together (two commits before, ~0.1-0.5 s under a busy disk
before any woken instance was called)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from pyflow_actors.models import InstanceStatus

from .fake_actors import FakeBackend
from .test_supervisor import WF, actor, create, run, started, until

pytestmark = pytest.mark.timeout(20)


def test_alarms_due_together_are_woken_and_admitted_in_one_registry_commit(tmp_path):
    async def scenario() -> None:
        backend = FakeBackend()
        sup = await started(tmp_path, backend, max_running=8, warm_actors=0)
        ids = ["a", "b", "c"]
        await create(sup, *ids)
        due = time.time() + 0.3
        for instance_id in ids:
            (await actor(backend, instance_id)).hibernate(wake_at=due)
        await until(lambda: all(sup.table.require(WF, i).status == "waiting" for i in ids))
        commits: list[list[tuple[str, InstanceStatus]]] = []
        save_many = sup.table.registry.save_many

        def counting(changes: list[Any]) -> None:
            commits.append([(row.id, row.status) for row, _ in changes])
            save_many(changes)

        sup.table.registry.save_many = counting  # type: ignore[method-assign]
        woken = [await actor(backend, i, 2) for i in ids]
        await until(lambda: all(w.calls for w in woken))
        first = commits[0]
        assert sorted(first) == [(i, InstanceStatus.RUNNING) for i in ids]

    run(scenario)
