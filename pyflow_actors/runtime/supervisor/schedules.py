"""Cron schedules of workflows: one instance per fire.

Each workflow's ``schedules`` (pyflow.toml or ``PUT .../workflows/{name}``)
fire in UTC. A fire creates one instance whose id is derived from the
workflow's cron and the fire time (``cron-<hash of the cron>-<YYYYmmddTHHMM>``),
with no params; its ``event["schedule"]`` is ``{"cron", "scheduledTime"}`` (ms).
Exactly once across supervisor kills and restarts: the
instance is created first (its registry row is durable before anything else
happens, and a second create of the same id is a duplicate, skipped), then the
fire is recorded as the schedule's last (the registry's ``cron_fires``). A
kill between the two creates nothing twice: the fire is still due, its create
is a duplicate, and it is recorded then.

Fire times are read on the engine's clock
(:data:`~pyflow_actors.engine.clock.SYSTEM_CLOCK`), the one alarms read: the
test-only ``PYFLOW_TEST_CLOCK_OFFSET_FILE`` moves them too, so a test brings
the next minute's fire seconds away instead of waiting for the wall clock.

Missed fires: when the engine was down (or the creation refused, e.g. the
queue was full), only the latest missed fire of each schedule runs, once
(at most one catch-up); older ones are skipped. A schedule seen for the first
time starts at its next fire (nothing before it was set runs); so does one of
a workflow deleted and registered again (deleting forgets its fires).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import logging
from collections.abc import Callable

from ...cron import due_fires
from ...engine.clock import SYSTEM_CLOCK
from ...errors import InstanceAlreadyExists, PyflowError
from ...models import CreateOptions
from ...storage.registry import Registry, schedule_key
from .workflows import WorkflowCatalog

log = logging.getLogger("pyflow.supervisor")

# What creates one instance (raises like a create: a duplicate, a full queue...).
CreateOne = Callable[[str, CreateOptions], None]


def fire_id(cron: str, fire_at: float) -> str:
    """The id of the instance a fire creates: stable for the cron and the fire time."""
    digest = hashlib.sha256(cron.encode()).hexdigest()[:8]
    stamp = _dt.datetime.fromtimestamp(fire_at, _dt.timezone.utc).strftime("%Y%m%dT%H%M")
    return f"cron-{digest}-{stamp}"


class Schedules:
    """Fires the schedules of every workflow in the catalog (see the module doc)."""

    def __init__(
        self,
        catalog: WorkflowCatalog,
        registry: Registry,
        create: CreateOne,
        clock: Callable[[], float] = SYSTEM_CLOCK.now,
    ) -> None:
        self.catalog, self.registry, self.create, self.clock = catalog, registry, create, clock

    def tick(self, now: float | None = None) -> list[str]:
        """Create the instances of the fires due at ``now`` (default: the clock's); their ids."""
        now = now or self.clock()
        created = []
        for spec in list(self.catalog.specs.values()):
            for cron in spec.schedules:
                instance_id = self._fire(spec.name, cron, now)
                if instance_id is not None:
                    created.append(instance_id)
        return created

    def _fire(self, workflow: str, cron: str, now: float) -> str | None:
        owner = schedule_key(workflow)
        last = self.registry.last_cron_fire(owner, cron)
        if last is None:  # a new schedule: it starts at its next fire
            self.registry.claim_cron_fire(owner, cron, now)
            return None
        fires = due_fires(cron, last, now, limit=1)
        if not fires:
            return None
        fire_at = fires[-1]
        instance_id = fire_id(cron, fire_at)
        try:
            schedule = {"cron": cron, "scheduledTime": round(fire_at * 1000)}
            self.create(workflow, CreateOptions(id=instance_id, schedule=schedule))
        except InstanceAlreadyExists:
            pass  # created before a kill, not recorded then: recorded now
        except PyflowError as exc:  # refused (queue full, rate): tried again next tick
            log.warning("schedule %r of %s could not fire: %s", cron, workflow, exc)
            return None
        self.registry.claim_cron_fire(owner, cron, fire_at)
        return instance_id
