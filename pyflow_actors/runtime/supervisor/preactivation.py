"""Shared pre-activation: shared instances taken back by a host ahead of their alarm.

A hibernated shared instance woken by the supervisor at its alarm is a run
on a host: the supervisor's row writes and calls, then the host reopening the
journal and replaying to the sleep, all after the alarm and in line behind
every other wake-up due at that moment (1,000 alarms due at once woke ~17 a
second). :class:`SharedPreactivation` does that work before the alarm instead:

* within ``warm_lead`` of its alarm, a waiting shared instance is started as
  any admitted run, with ``live_until`` (its alarm plus ``PIN_GRACE``) in its
  setup: its host opens the journal, replays to the wait and, the wait ending
  by then, sleeps it live rather than hibernating. It then wakes on its own
  timer in the host's loop, exactly as a shared instance that never
  hibernated: no supervisor round trip between the alarm and its next step;
* each is taken back early enough for the pre-activations due before it (the
  cost of one, ``PREACTIVATION_SECONDS``, over the machine's cores, with the
  warm pool's margin: ``warm.py`` plans dedicated alarms the same way), so a
  burst of alarms is spread over the lead time, a few per round, and over the
  hosts (the pool places each on the least-loaded one);
* at most ``shared_preactivated`` at once (the memory they hold in hosts).

A pre-activated instance is live in :class:`~.actors.InstanceActors`, so the
registry's row and its host agree on who holds it, events and control reach it
as any live instance, and a host's death rehydrates it from its journal. Its
row says running and keeps its wake time (``Transitions.hold``), as a shared
instance that sleeps live without hibernating has a running row; everywhere
it is seen (status, lists, counts, ``/metrics``) it shows waiting until its
alarm, then running (its host's report says so, else its alarm passing). It
holds no running slot while it waits (it takes one, beyond ``max_running`` if
need be, from its wake on: waking it on time is the point). A restarted
supervisor that adopts it from its host holds it again (:meth:`adopt`): its
row's wake time still to come says it is held. Instances of a workflow with
its own ``max_running`` are not pre-activated (their wake waits for a slot).
One the plan no longer wants (over the budget, its workflow moved to dedicated
or capped) is unpinned: its host lets it hibernate again, and its alarm is the
supervisor's once more.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Protocol

from ...engine.clock import SYSTEM_CLOCK
from ...models import InstanceStatus, Placement
from ...storage.registry import InstanceRow
from ..protocol import InstanceSetup
from .actors import InstanceActors, Live
from .alarms import Alarms
from .hosts import SharedInstance
from .table import InstanceTable, Key
from .transitions import Transitions

if TYPE_CHECKING:
    from ...config import EngineConfig
    from .workflows import WorkflowCatalog

# CPU-seconds one pre-activation costs across processes (the run's start and row
# on the supervisor, the host's journal reopen and replay), measured here
# (README "Placement: dedicated or shared").
PREACTIVATION_SECONDS = 0.025
LEAD_MARGIN = 1.5  # as the warm pool's: start this much earlier than the estimate says
BASE_LEAD = 2.0  # seconds before its alarm even the first in line is taken back
PIN_GRACE = 5.0  # seconds past its alarm a pre-activated run stays pinned (a late timer)
ROUND_SECONDS = 0.2  # how often the supervisor plans (its warm-up round)


@dataclass
class Pin:
    """A pre-activated instance still waiting for its alarm."""

    live: Live  # its run in InstanceActors (another one there: it moved on)
    wake_at: float


def plan(
    rows: Iterable[InstanceRow],
    now: float,
    *,
    room: int,
    max_lead: float,
    parallelism: int,
    cost: float = PREACTIVATION_SECONDS,
) -> list[InstanceRow]:
    """The rows to pre-activate now, at most ``room``, soonest alarm first.

    ``rows``: the eligible waiting rows, soonest alarm first. Each is taken
    back ``LEAD_MARGIN`` x (the pre-activations due before it and itself, at
    ``cost`` each, over ``parallelism``) + ``BASE_LEAD`` before its alarm,
    never more than ``max_lead``: 1,000 due at once are spread over ~19 s.
    """
    chosen: list[InstanceRow] = []
    work = 0.0
    for row in rows:
        if row.wake_at is None or row.wake_at - now > max_lead or len(chosen) >= room:
            break
        work += cost
        lead = min(max_lead, LEAD_MARGIN * work / max(1, parallelism) + BASE_LEAD)
        if now >= row.wake_at - lead:
            chosen.append(row)
    return chosen


def per_round(parallelism: int, cost: float = PREACTIVATION_SECONDS) -> int:
    """Pre-activations started per round: what the cores do in one (not all at once)."""
    return max(1, int(max(1, parallelism) * ROUND_SECONDS / cost))


def over_budget(pins: dict[Key, Pin], budget: int) -> list[Key]:
    """The pins beyond ``budget`` (it was lowered): the latest alarms go first."""
    by_wake = sorted(pins, key=lambda key: pins[key].wake_at)
    return by_wake[max(0, budget) :]


class Supervising(Protocol):
    """What the pre-activation reads and drives of the supervisor."""

    table: InstanceTable
    alarms: Alarms
    actors: InstanceActors
    transitions: Transitions
    catalog: WorkflowCatalog
    config: EngineConfig

    def placement_of(self, workflow: str) -> Placement: ...

    def _setup(self, row: InstanceRow) -> InstanceSetup: ...


class SharedPreactivation:
    """Shared instances taken back ahead of their alarm (see module doc)."""

    def __init__(self, supervisor: Supervising, parallelism: int) -> None:
        self.supervisor, self.parallelism = supervisor, max(1, parallelism)
        self.clock = SYSTEM_CLOCK.now  # alarms are on it
        self.pins: dict[Key, Pin] = {}
        self.made = self.woke = self.let_go = 0  # pre-activated; woke pinned; unpinned

    def round(self) -> None:
        """Unpin what the plan no longer wants, then pre-activate what it wants now."""
        sup, now = self.supervisor, self.clock()
        self.waiting(now)
        budget = sup.config.shared_preactivated
        for key in [k for k, pin in self.pins.items() if not self._wanted(k)]:
            self._unpin(key)
        for key in over_budget(self.pins, budget):
            self._unpin(key)
        room = min(budget - len(self.pins), per_round(self.parallelism))
        if room <= 0 or not self._any_shared():
            return
        horizon = now + sup.config.warm_lead
        rows = (row for row in sup.alarms.waking_by(horizon) if self._eligible(row))
        chosen = plan(
            rows, now, room=room, max_lead=sup.config.warm_lead, parallelism=self.parallelism
        )
        if chosen:
            with sup.table.batch():  # their starts: one registry commit
                for row in chosen:
                    self._start(row)

    def waiting(self, now: float | None = None) -> int:
        """How many pre-activated instances still wait for their alarm (they hold no
        running slot); those that woke or moved on are forgotten here."""
        now = self.clock() if now is None else now
        lives = self.supervisor.actors.live
        for key, pin in list(self.pins.items()):
            live = lives.get(key)
            if pin.wake_at <= now:  # woke in its host (its run may have ended since)
                del self.pins[key]
                self.woke += 1
                if live is pin.live and not live.wait_report:  # its host said nothing
                    live.waiting = None  # its alarm woke it: it shows running
            elif live is not pin.live:
                del self.pins[key]  # its run was stopped or ended early (an event woke it)
            elif live.wait_report and live.waiting is None:
                del self.pins[key]  # its host says it works again (an event woke it)
        return len(self.pins)

    def adopt(self, row: InstanceRow, live: Live) -> None:
        """A restarted supervisor adopted ``row``'s run from its host: if the run is held
        until its alarm (a running shared row with a wake time still to come), it
        shows waiting and holds no slot again, as before the restart."""
        wake_at = row.wake_at
        if (
            row.status == InstanceStatus.RUNNING
            and wake_at is not None
            and wake_at > self.clock()
            and self.supervisor.placement_of(row.workflow) == Placement.SHARED
        ):
            live.waiting = (wake_at, list(row.waiting_for))  # as its host will report
            self.pins[row.key] = Pin(live, wake_at)

    def figures(self) -> dict[str, int]:
        return {
            "shared_preactivated": len(self.pins),
            "shared_preactivated_made": self.made,
            "shared_preactivated_woke": self.woke,
            "shared_preactivated_let_go": self.let_go,
        }

    def _any_shared(self) -> bool:
        """Some workflow is shared (else the alarms are not walked: all dedicated)."""
        return any(self._wanted((name, "")) for name in self.supervisor.catalog.specs)

    def _eligible(self, row: InstanceRow) -> bool:
        return (
            row.status == InstanceStatus.WAITING
            and row.key not in self.supervisor.actors
            and self._wanted(row.key)
        )

    def _wanted(self, key: Key) -> bool:
        """Its workflow is shared and has no cap of its own (a capped one's wake waits
        for a slot of that cap)."""
        sup = self.supervisor
        return (
            sup.placement_of(key[0]) == Placement.SHARED
            and key[0] in sup.catalog.specs
            and sup.catalog.cap_of(key[0]) is None
        )

    def _start(self, row: InstanceRow) -> None:
        sup = self.supervisor
        assert row.wake_at is not None
        sup.transitions.hold(row)
        setup = replace(sup._setup(row), live_until=row.wake_at + PIN_GRACE)
        live = sup.actors.start(row, setup)
        live.waiting = (row.wake_at, list(row.waiting_for))  # as its host will report
        self.pins[row.key] = Pin(live, row.wake_at)
        self.made += 1

    def _unpin(self, key: Key) -> None:
        handle = self.pins[key].live.handle
        if handle is None:  # its host call is not made yet: let go of it next round
            return
        del self.pins[key]
        if isinstance(handle, SharedInstance):
            handle.backend.unpin(handle)
        self.let_go += 1
