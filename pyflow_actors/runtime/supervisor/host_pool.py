"""Where shared instances go: the pool of host actors as the supervisor sees it.

:class:`HostPool` is the pure placement logic (which host takes the next
instance, when the pool grows and shrinks), tested without Ray; the backend
that starts, calls and stops the hosts is :mod:`.hosts`.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

from .table import Key

log = logging.getLogger("pyflow.supervisor")

PER_HOST = 64  # instances a host holds before the pool must grow (while it may)
MIN_HOSTS = 2  # hosts kept once shared placement is used (at most the cluster's CPUs)
PACK_TO = 1  # a host takes instances up to this many before the next one is preferred
GROW_AT = 4  # beyond MIN_HOSTS, a host starts ahead of need when every host holds this many
SHRINK_AFTER = 30.0  # seconds a host beyond the minimum may stay empty before it goes


@dataclass(eq=False)
class HostEntry:
    """One host actor as the pool sees it (``ready``: it answered, its loop runs)."""

    name: str
    actor: Any  # the Ray actor handle (a fake in unit tests)
    placed: set[Key] = field(default_factory=set)
    alive: bool = True
    empty_since: float | None = None
    ready: bool = True


class HostPool:
    """Which host takes the next instance; when the pool grows and shrinks.

    One host's event loop (and GIL) runs its instances one Python statement at a
    time: at ~15-20 ms of host CPU per 3-step instance, one host caps throughput
    at ~50-65 instances/s while the machine's other cores idle. So the pool keeps
    ``min_hosts`` hosts (2, at most the cluster's CPUs) once shared placement is
    used, the second started ahead of need (once nothing runs, or when the first
    holds ``grow_at``), and places each instance on the least-loaded ready host
    (``pack_to``: the most loaded holding fewer than that, first).
    Beyond ``min_hosts`` it starts one more (up to ``max_hosts``, one event loop
    per CPU) when every host holds ``grow_at`` instances; a host still starting
    takes an instance only when no ready host has room (below ``per_host``), as
    a start costs a Ray worker (~0.5 CPU-s). It shrinks by the hosts beyond
    ``min_hosts`` that stayed empty ``SHRINK_AFTER`` seconds.
    """

    def __init__(
        self,
        max_hosts: int,
        min_hosts: int = MIN_HOSTS,
        per_host: int = PER_HOST,
        *,
        pack_to: int = PACK_TO,
        grow_at: int = GROW_AT,
    ) -> None:
        self.max_hosts = max(1, max_hosts)
        self.min_hosts = max(1, min(min_hosts, self.max_hosts))
        self.per_host, self.pack_to, self.grow_at = per_host, pack_to, grow_at
        self.hosts: dict[str, HostEntry] = {}
        self.where: dict[Key, HostEntry] = {}

    def choose(self) -> HostEntry | None:
        """The host for the next instance, or ``None`` when the pool must grow first."""
        live = [h for h in self.hosts.values() if h.alive]
        if not live:
            return None
        room = [h for h in live if len(h.placed) < self.per_host]
        ready = [h for h in room if h.ready]
        if not room:  # every host full: grow while it may
            return None if len(live) < self.max_hosts else min(live, key=_load)
        candidates = ready or room  # a starting host only when no ready one has room
        packing = [h for h in candidates if len(h.placed) < self.pack_to]
        return max(packing, key=_load) if packing else min(candidates, key=_load)

    def wants_host(self) -> bool:
        """Start a host ahead of need? One start at a time, up to ``max_hosts``."""
        live = [h for h in self.hosts.values() if h.alive]
        if len(live) >= self.max_hosts or any(not h.ready for h in live):
            return False
        if all(len(h.placed) >= self.grow_at for h in live):
            return True
        # Below the minimum, while nothing runs: a worker start (~0.5 CPU-s) beside
        # running instances slows them (bench-quick's 200-step run, its first shared use).
        return len(live) < self.min_hosts and not self.where

    def add(self, entry: HostEntry) -> None:
        self.hosts[entry.name] = entry
        if not entry.placed:
            entry.empty_since = time.monotonic()

    def place(self, entry: HostEntry, key: Key) -> None:
        self.where[key] = entry
        entry.placed.add(key)
        entry.empty_since = None

    def release(self, key: Key, entry: HostEntry) -> bool:
        """Forget where the instance was (if still there); True if its host is live."""
        if self.where.get(key) is entry:
            del self.where[key]
        entry.placed.discard(key)
        if not entry.placed and entry.empty_since is None:
            entry.empty_since = time.monotonic()
        return entry.alive

    def lost(self, entry: HostEntry) -> None:
        """The host died: no more placements there (its instances are rehydrated)."""
        if entry.alive:
            entry.alive = False
            self.hosts.pop(entry.name, None)
            log.warning(
                "host %s died; its %d instance(s) go elsewhere", entry.name, len(entry.placed)
            )

    def retire(self, entry: HostEntry) -> None:
        """Take an empty host out of the pool (the backend then stops it)."""
        entry.alive = False
        self.hosts.pop(entry.name, None)
        log.info("host %s retired (empty); %d left", entry.name, len(self.hosts))

    def idle(self, now: float) -> list[HostEntry]:
        """Hosts to retire: empty for ``SHRINK_AFTER`` seconds, beyond ``min_hosts``."""
        live = [h for h in self.hosts.values() if h.alive]
        spare = len(live) - self.min_hosts
        idle = [
            h for h in live if h.empty_since is not None and now - h.empty_since >= SHRINK_AFTER
        ]
        return idle[: max(0, spare)]


def _load(entry: HostEntry) -> int:
    return len(entry.placed)
