"""A mass wake hands its rows over in chunks, the loop let run between: the
first rows' actors are called before the rest are queued, and a row an event
woke meanwhile is not woken twice."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from pyflow_actors.models import InstanceStatus
from pyflow_actors.runtime.supervisor.alarms import WAKE_CHUNK, Alarms
from pyflow_actors.storage.registry import InstanceRow

pytestmark = pytest.mark.timeout(30)


def waiting(n: int, at: float) -> dict[tuple[str, str], InstanceRow]:
    rows = [
        InstanceRow(
            "wf", f"i{k:04}", InstanceStatus.WAITING, params=None, created_at=0.0, wake_at=at
        )
        for k in range(n)
    ]
    return {row.key: row for row in rows}


def test_many_due_at_once_are_handed_over_in_chunks_soonest_first_with_the_loop_run_between():
    async def scenario() -> list[list[str]]:
        rows = waiting(2 * WAKE_CHUNK + 5, at=100.0)
        alarms = Alarms(rows, clock=lambda: 101.0)  # type: ignore[arg-type]  # read by key alone
        for row in rows.values():
            alarms.arm(row)
        late = rows[("wf", f"i{2 * WAKE_CHUNK + 1:04}")]  # in the last chunk
        handed: list[list[str]] = []

        def on_due(chunk: list[InstanceRow]) -> None:
            handed.append([r.id for r in chunk])
            for r in chunk:
                r.status = InstanceStatus.QUEUED
            if len(handed) == 1:  # an event wakes a later row before its chunk comes
                asyncio.get_running_loop().call_soon(setattr, late, "status", InstanceStatus.QUEUED)

        task = asyncio.ensure_future(alarms.run(on_due))
        for _ in range(20):
            await asyncio.sleep(0)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        return handed

    handed = asyncio.run(scenario())
    assert [len(chunk) for chunk in handed] == [WAKE_CHUNK, WAKE_CHUNK, 4]
    ids = [i for chunk in handed for i in chunk]
    assert ids == sorted(ids) and f"i{2 * WAKE_CHUNK + 1:04}" not in ids
