"""An instance terminated with rollback shows rollingBack in every view, live or not.

Terminated with rollback while it hibernated, an instance is queued for a run
that rolls back; with no slot free its row says queued. Its status said
rollingBack, but the workflow's counts, ``stats()`` and ``/metrics`` counted
it as queued. Now every view (status, a list by status, the counts,
``stats()``, ``/metrics``) agrees, before its run, during it, across a
supervisor restart, and once it ends terminated. No Ray: a supervisor over
fake actors (tests/unit/fake_actors.py).
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from pyflow_actors.models import InstanceStatus
from pyflow_actors.runtime.protocol import OutcomeKind
from pyflow_actors.runtime.supervisor import Supervisor

from .fake_actors import FakeBackend
from .test_control_request_ids import killed_and_restarted
from .test_preactivated_status import metric_samples
from .test_supervisor import WF, actor, create, run, started, status, until

pytestmark = pytest.mark.timeout(30)

SHOWN = (InstanceStatus.QUEUED, InstanceStatus.ROLLING_BACK, InstanceStatus.TERMINATED)


async def views(sup: Supervisor, instance_id: str) -> dict[str, Any]:
    """What each view says of the instance, and of the statuses it could show."""
    stats = await sup.stats()
    samples = metric_samples(stats)
    listed = {
        s.value: [i.id for i in (await sup.list_instances(WF, s.value)).instances] for s in SHOWN
    }
    counts = (await sup.get_workflow(WF)).instances
    return {
        "status": (await sup.status(WF, instance_id)).status.value,
        "listed as": [s for s, ids in listed.items() if instance_id in ids],
        "workflow counts": {s.value: counts.get(s.value, 0) for s in SHOWN},
        "by_status": {s.value: stats["by_status"].get(s.value, 0) for s in SHOWN},
        "by_workflow_status": {
            s.value: stats["by_workflow_status"].get(WF, {}).get(s.value, 0) for s in SHOWN
        },
        "metrics": {
            s.value: samples.get(("pyflow_instances_by_status", (("status", s.value),)), 0)
            for s in SHOWN
        },
    }


def agreeing(status: InstanceStatus) -> dict[str, Any]:
    """Every view as it must be when the one instance counted shows ``status``."""
    counts = {s.value: int(s == status) for s in SHOWN}
    return {
        "status": status.value,
        "listed as": [status.value],
        "workflow counts": counts,
        "by_status": counts,
        "by_workflow_status": counts,
        "metrics": {s: float(n) for s, n in counts.items()},
    }


async def terminated_with_rollback_while_queued(sup: Supervisor, backend: FakeBackend) -> None:
    """ "h" hibernates, "blocker" takes the only slot, then "h" is terminated with
    rollback: queued for its rollback run, no slot for it."""
    await create(sup, "h")
    (await actor(backend, "h")).hibernate(wake_at=time.time() + 3600)
    await until(lambda: status(sup, "h") == InstanceStatus.WAITING)
    await create(sup, "blocker")
    await actor(backend, "blocker")
    await sup.control(WF, "h", "terminate", rollback=True)
    assert status(sup, "h") == InstanceStatus.QUEUED  # its row: waiting for a slot


def test_a_queued_rollback_is_counted_as_rolling_back_in_every_view(tmp_path):
    async def scenario() -> None:
        backend = FakeBackend()
        sup = await started(tmp_path, backend, max_running=1, warm_actors=0)
        await terminated_with_rollback_while_queued(sup, backend)
        assert await views(sup, "h") == agreeing(InstanceStatus.ROLLING_BACK)

        backend.actors_of((WF, "blocker"))[0].finish()
        rolling = await actor(backend, "h", 2)  # its rollback run, live now
        assert rolling.requests[-1].rollback is True
        assert await views(sup, "h") == agreeing(InstanceStatus.ROLLING_BACK)

        rolling.finish(OutcomeKind.TERMINATED)
        await until(lambda: status(sup, "h") == InstanceStatus.TERMINATED)
        assert await views(sup, "h") == agreeing(InstanceStatus.TERMINATED)

    run(scenario)


def test_a_queued_rollback_is_still_counted_as_rolling_back_after_a_supervisor_restart(tmp_path):
    async def scenario() -> None:
        backend = FakeBackend()
        old = await started(tmp_path, backend, max_running=1, warm_actors=0)
        await terminated_with_rollback_while_queued(old, backend)
        new = await killed_and_restarted(old, tmp_path, backend, max_running=1, warm_actors=0)
        assert new.table.require(WF, "h").status == InstanceStatus.QUEUED  # the blocker's slot
        assert await views(new, "h") == agreeing(InstanceStatus.ROLLING_BACK)

    run(scenario)
