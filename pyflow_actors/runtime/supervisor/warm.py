"""Warm actors: instance actors started ahead of need, within a budget.

Starting an instance actor costs a Ray worker process (~0.4 CPU-s here, most
of it ``import ray``), so admitting an instance into a running slot or firing
its alarm waits for that unless the actor is already up. The supervisor knows
what will run next; :class:`WarmPool` starts those actors early (process up,
workflow class loaded, journal open, nothing run) so that admission is a call
on a live actor:

* instances whose alarm is due soon: each is started early enough for the
  work ahead of it (the activations due before it, at the measured cost of
  one, over the machine's parallelism, with a margin), and never more than
  ``max_lead`` early;
* the head of the ready queue when every running slot is taken.

The pool owns its actors until they are admitted (:meth:`take`). Never two
actors for one instance: the instance's single actor is either warm here or
live in :class:`InstanceActors`. A warm actor whose instance moved on (paused,
terminated, restarted, deleted) is let go at once; one the plan no longer
wants (its alarm moved off, others went ahead of it in line) is let go once
it has gone unwanted for ``IDLE_GRACE`` on the machine's monotonic clock.
That grace is the pool's hysteresis: before it, an instance woken more than a
minute after its alarm was warmed with that alarm as its due time, let go at
the next round as "a minute past due" and warmed again by the round after, a
warm actor made and killed every ~0.5 s under load. The budget
(``warm_actors``) bounds the memory they hold, together with the worker stock
(``worker_stock.py``: idle Ray workers prestarted for any actor start, a lone
create's too), which the pool refills within what the budget leaves, and only
in a round that starts nothing: no actor start in flight, no queued instance,
every alarm within the lead warm already. A warm actor's start takes a stocked
worker when there is one; the stock waits for the quiet to refill it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol

from ...config import EngineConfig
from ...engine.clock import SYSTEM_CLOCK
from ...storage.registry import InstanceRow
from ..protocol import InstanceSetup
from .table import Key
from .worker_stock import StockedBackend, WorkerStock, stocked
from .worker_stock import for_engine as stock_for_engine
from .wrapper import ActorBackend, InstanceActorHandle

log = logging.getLogger("pyflow.supervisor")

INITIAL_ACTIVATION_SECONDS = 0.5  # until measured
IDLE_GRACE = 60.0  # seconds a warm actor is kept after the plan last wanted it
LEAD_MARGIN = 1.5  # start alarms' actors this much earlier than the estimate says
COLD_SAMPLE = 20  # recent activations whose median is the cost of one
HANDOVER_SECONDS = 0.05  # shorter: a warm actor handed over, not a start
DESCRIBE_WAIT = 10.0  # seconds describe waits for a warm actor still starting


class ReadyLine(Protocol):
    """The scheduler's ready queue, as the pool reads it."""

    def peek(self, n: int) -> list[InstanceRow]: ...

    def holds(self, key: Key) -> bool: ...


@dataclass
class Warm:
    ready: asyncio.Future[InstanceActorHandle]
    # When the plan last wanted it (monotonic: the engine's clock may be shifted).
    wanted: float = field(default_factory=time.monotonic)


class WarmPool:
    def __init__(
        self,
        backend: ActorBackend,
        budget: int,
        parallelism: int,
        max_lead: float,
        clock: Callable[[], float] = SYSTEM_CLOCK.now,  # alarms are on it
        stock: WorkerStock | None = None,
    ) -> None:
        # Every dedicated actor start (warm or not: the supervisor's actors use
        # this backend too) may take a stock worker: the stock hears of each,
        # and holds its refills while any is in flight.
        self.stock = stock
        self.backend: ActorBackend = backend
        self.stocked: StockedBackend | None = None  # its dedicated actors' starts
        if stock is not None:
            self.backend, self.stocked = stocked(backend, stock)
        self.budget, self.parallelism = budget, max(1, parallelism)
        self.max_lead, self.clock = max_lead, clock
        self.warm: dict[Key, Warm] = {}
        self.activation_seconds = INITIAL_ACTIVATION_SECONDS  # moving average, measured
        self.made = self.admitted = self.let_go = 0

    def __contains__(self, key: object) -> bool:
        return key in self.warm

    def __len__(self) -> int:
        return len(self.warm)

    def configure(self, config: EngineConfig) -> None:
        self.budget, self.max_lead = config.warm_actors, config.warm_lead
        if self.stock is not None:
            self.stock.configure(config.worker_stock, config.worker_stock_keep_alive)

    def starting(self) -> int:
        return sum(1 for w in self.warm.values() if not w.ready.done())

    # -- planning -------------------------------------------------------------

    def plan(
        self,
        upcoming: Iterable[InstanceRow],
        line: ReadyLine,
        busy: Callable[[Key], bool],
        cold_starts: Iterable[float] = (),
    ) -> list[InstanceRow]:
        """The rows whose actors should start now (within :meth:`room`): the
        alarms :meth:`plan_alarms` wants, then the next ``parallelism`` rows of
        the ready ``line`` (queued, no slot yet). Warm actors still wanted are
        marked so, and so are those of every queued instance (they will run: a
        burst of woken alarms goes beyond the next few); those unwanted for
        ``IDLE_GRACE`` are let go. ``busy``: a key with an actor elsewhere.
        The stock is refilled only when this round starts nothing (see
        :meth:`quiet`), within what the warm actors leave of the budget."""
        upcoming = list(upcoming)
        wanted = self.plan_alarms(upcoming, busy, cold_starts)
        head = line.peek(self.parallelism)
        wanted += [row for row in head if not busy(row.key)]
        now = time.monotonic()
        new = [row for row in wanted if row.key not in self.warm]
        kept = {row.key for row in wanted} | {key for key in self.warm if line.holds(key)}
        for key, warm in list(self.warm.items()):
            if key in kept:
                warm.wanted = now
            elif now - warm.wanted > IDLE_GRACE:
                self.drop(key)
        if self.stock is not None:
            quiet = not new and not head and self.quiet(upcoming, busy)
            self.stock.round(self.budget - len(self.warm), quiet)
        return new[: self.room()]

    def quiet(self, upcoming: list[InstanceRow], busy: Callable[[Key], bool]) -> bool:
        """No actor is starting (warm or not) and every alarm due within
        ``max_lead`` has its actor: a stock refill would compete with nothing."""
        if self.starting() or (self.stocked is not None and self.stocked.starting):
            return False
        now = self.clock()
        return all(
            row.key in self.warm or busy(row.key)
            for row in upcoming
            if row.wake_at is not None and row.wake_at - now <= self.max_lead
        )

    def plan_alarms(
        self,
        upcoming: Iterable[InstanceRow],
        busy: Callable[[Key], bool],
        cold_starts: Iterable[float] = (),
    ) -> list[InstanceRow]:
        """The waiting rows (sorted by wake time) whose actors are wanted now,
        warm already or not: each early enough for the activations due before
        it (at the cost of one over the machine's parallelism) with a margin,
        never more than ``max_lead`` early. ``cold_starts``: recent
        activations' seconds.

        The cost of one is the worst of the warm starts' average and the recent
        cold starts' median: from the warm average alone (a 0.5 s guess until a
        warm start is measured) 30 alarms due at once under load (activations
        of 5-15 s) found 4 actors warm and 26 cold (lateness p50 50 s)."""
        cost = self.activation_cost(cold_starts)
        now, chosen, work = self.clock(), [], 0.0
        for row in upcoming:
            if row.wake_at is None or row.wake_at - now > self.max_lead:
                break
            if busy(row.key):
                continue
            if row.key in self.warm:  # up (or on its way): still wanted, no work ahead
                chosen.append(row)
                continue
            work += cost
            lead = LEAD_MARGIN * (work / self.parallelism + 2 * cost)
            if now >= row.wake_at - lead:
                chosen.append(row)
        return chosen

    def activation_cost(self, cold_starts: Iterable[float]) -> float:
        """Seconds one activation takes now (see :meth:`plan_alarms`). With the
        stock on, the starts are timed to the new actor's first answer (Ray's
        create returns before the actor is up: timed from the supervisor's side
        alone, a cold start reads a few ms, and the plan's leads ran short)."""
        if self.stocked is not None and self.stocked.up_seconds:
            cold_starts = self.stocked.up_seconds
        recent = sorted(s for s in list(cold_starts)[-COLD_SAMPLE:] if s > HANDOVER_SECONDS)
        cold = recent[len(recent) // 2] if recent else 0.0
        return max(self.activation_seconds, cold)

    def room(self) -> int:
        """How many more actors may start now: the budget, and a few starts at a
        time. The stock's idle workers do not shrink it: a warm actor's start
        takes one of them (that is what they are for), so the processes held
        stay within the budget, and the stock refills only what the pool leaves."""
        left = self.budget - len(self.warm)
        return max(0, min(left, self.parallelism - self.starting()))

    # -- lifecycle ------------------------------------------------------------

    def start(self, row: InstanceRow, setup: InstanceSetup) -> None:
        """Start the instance's actor and prepare it (in the background)."""
        self.warm[row.key] = Warm(asyncio.ensure_future(self._make(setup)))

    async def _make(self, setup: InstanceSetup) -> InstanceActorHandle:
        began = time.monotonic()
        handle = await self.backend.create(setup)
        await handle.prepare()
        took = time.monotonic() - began
        self.activation_seconds = 0.8 * self.activation_seconds + 0.2 * took
        self.made += 1
        return handle

    def take(self, key: Key) -> asyncio.Future[InstanceActorHandle] | None:
        """Hand over the instance's warm actor (maybe still starting), if there is one."""
        warm = self.warm.pop(key, None)
        if warm is None:
            return None
        if warm.ready.done() and warm.ready.exception() is not None:
            return None  # it failed to start: the instance gets a fresh one
        self.admitted += 1
        return warm.ready

    def drop(self, key: Key) -> None:
        """Let the instance's warm actor go (its instance moved on, or nothing wants it)."""
        warm = self.warm.pop(key, None)
        if warm is not None:
            self.let_go += 1
            warm.ready.add_done_callback(_kill_when_made)

    def drop_where(self, stale: Callable[[Key], bool]) -> None:
        """Let go at once the warm actors of instances that moved on."""
        for key in list(self.warm):
            if stale(key):
                self.drop(key)

    def handle(self, key: Key) -> InstanceActorHandle | None:
        """The warm actor, if made (describe asks it: it holds the journal open)."""
        warm = self.warm.get(key)
        if warm is None or not warm.ready.done() or warm.ready.exception() is not None:
            return None
        return warm.ready.result()

    async def ready_handle(
        self, key: Key, wait: float = DESCRIBE_WAIT
    ) -> InstanceActorHandle | None:
        """:meth:`handle`, once the warm actor is made if it is still starting: it may
        hold the journal open already, which a read beside it waits for, then fails."""
        if (warm := self.warm.get(key)) is not None and not warm.ready.done():
            await asyncio.wait([warm.ready], timeout=wait)
        return self.handle(key)

    def let_go_all(self) -> None:
        for key in list(self.warm):
            self.drop(key)


def _kill_when_made(ready: asyncio.Future[InstanceActorHandle]) -> None:
    if ready.cancelled() or ready.exception() is not None:
        return
    with contextlib.suppress(Exception):
        ready.result().kill()


__all__ = ["WarmPool", "stock_for_engine"]
