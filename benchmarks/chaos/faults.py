"""The soak's faults: one at a time, at random, in a thread of their own.

Every kind the issue names: kill -9 of an instance actor, of a shared host,
of the supervisor, of the gateway (restarted on a new port: clients retry),
of a Ray worker node (a fresh node joins after), of the whole runtime (every
process, then everything started again on the same storage); the disk made
full and freed; the storage made read-only and writable again; the engine's
clock shifted under pending alarms. Each fault is one :class:`Window` (its
kind, when it began and ended on the machine's clock, the instances it hit
when known); the checker excuses only what falls inside a window.
"""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from .pace import Pace
from .runtime import Runtime
from .storage import SmallDisk, StorageFault
from .workload import CallLog, Rest, Tracked, Workload

# kind: (weight, seconds at least between two of that kind)
KINDS: dict[str, tuple[float, float]] = {
    "instance actor": (30, 0),
    "shared host": (15, 0),
    "supervisor": (6, 10),
    "gateway": (5, 15),
    "worker node": (3, 30),
    "whole runtime": (1, 240),
    "disk full": (2, 45),
    "read-only storage": (2, 45),
    "clock shift": (8, 0),
}
# Every kind once first, cheapest first (seconds each here: supervisor 0.1, shared
# host 0.4, instance actor 2, read-only 8, gateway 8, disk full 12, worker node
# 13, whole runtime 40 to 80): a 2-minute run makes them all. At random, seed 15's
# quick run made 6 kinds of 9 (a whole-runtime restart took half of its time).
FIRST_ROUND = (
    "clock shift", "supervisor", "shared host", "instance actor", "read-only storage",
    "gateway", "disk full", "worker node", "whole runtime",
)  # fmt: skip
RETRY_UNMADE = 5.0  # seconds before a kind that found nothing to hit is tried first again
# The kinds that kill one chosen process (or node, or runtime) a fault; instance actors
# and shared hosts count each process they kill (see :mod:`.pace`).
KILLS_ONE = ("supervisor", "gateway", "worker node", "whole runtime")
STORAGE_FAULT_SECONDS = (4.0, 12.0)
CLOCK_OFFSETS = (-20.0, 600.0)  # the engine's clock stays within these of the machine's
CLOCK_JUMPS = (-10.0, 90.0)  # one shift: mostly forward, over pending alarms
STORAGE_UNAVAILABLE = "10504"
SNAPSHOT_SECONDS = 3.0
WATCH_SECONDS = 1.0  # with a kill rate: between two questions of the pid watch


@dataclass
class Window:
    kind: str
    start: float
    end: float
    targets: list[str] = field(default_factory=list)


class Faults:
    def __init__(
        self,
        runtime: Runtime,
        disk: SmallDisk | None,
        workload: Workload,
        rng: random.Random,
        log: CallLog,
        offset_file: Path,
        gap: tuple[float, float],
        pace: Pace = Pace(),
    ) -> None:
        self.runtime, self.disk, self.workload, self.rng = runtime, disk, workload, rng
        self.log, self.offset_file, self.gap, self.pace = log, offset_file, gap, pace
        self.rest: Rest = workload.rest
        self.windows: list[Window] = []
        self.counts: Counter[str] = Counter()  # faults made, by kind
        self.kills: Counter[str] = Counter()  # kill -9 of a chosen process, by kind
        self.processes: Counter[str] = Counter()  # every process kill -9'd, by kind
        self.began = time.monotonic()
        self.ended: float | None = None  # when the faults stopped
        self.seconds: dict[str, float] = {}  # what each kind cost in all
        self.offsets: list[tuple[float, float]] = [(0.0, 0.0)]  # (machine time, offset)
        self.storage_errors: Counter[str] = Counter()  # answers to creates on a broken disk
        self._snapshots: dict[str, tuple[float, dict[str, int]]] = {}
        self._supervisor_pid: int | None = None  # with a kill rate: from the watch
        self._dead: set[int] = set()  # pids already killed (a zombie takes a signal too)
        self.last: dict[str, float] = {}  # when each kind was last made (monotonic)
        self.tried: dict[str, float] = {}  # when each kind was last tried (monotonic)
        self.fail_count = 0
        self.serial = 0
        self.set_offset(0.0)

    def run(self, stop: threading.Event) -> None:
        """Fault after fault until ``stop``; a fault that could not be made is logged."""
        self.began = time.monotonic()
        while not stop.wait(self.rng.uniform(*self.gap)):
            kind = self.choose()
            self.tried[kind] = time.monotonic()
            began = time.time()
            try:
                targets = getattr(self, "_" + kind.replace(" ", "_").replace("-", "_"))()
            except Exception as exc:  # noqa: BLE001 - e.g. the probe is not back yet
                self.fail_count += 1
                self.log.write(call="fault", kind=kind, ok=False, error=repr(exc)[:300])
                continue
            if targets is None:
                continue  # nothing to hit right now
            ended = time.time()
            self.windows.append(Window(kind, began, ended, targets))
            self.counts[kind] += 1
            if kind in KILLS_ONE:
                self.kills[kind] += 1
            self.seconds[kind] = self.seconds.get(kind, 0.0) + ended - began
            self.last[kind] = time.monotonic()
            self.log.write(
                call="fault",
                kind=kind,
                ok=True,
                began=began,
                targets=targets[:20],
                kills=sum(self.kills.values()),  # so far: a long run can be watched
            )

    @property
    def seconds_of_faults(self) -> float:
        """How long faults were made (so far, while they still are)."""
        return (self.ended or time.monotonic()) - self.began

    def choose(self) -> str:
        """A kind never made yet first, cheapest first (a short run makes each one),
        then by weight, each kind waiting its gap after the last of it."""
        now = time.monotonic()
        ready = [
            k
            for k, (_, gap) in KINDS.items()
            if now - self.last.get(k, -1e9) >= self.pace.gap(k, gap)
        ]
        ready = [k for k in ready if k in self.kinds()]
        unmade = [
            k for k in self.unmade() if k in ready and now - self.tried.get(k, -1e9) > RETRY_UNMADE
        ]
        if unmade:
            return unmade[0]
        return self.rng.choices(ready, [self.pace.weight(k, KINDS[k][0]) for k in ready])[0]

    def kinds(self) -> list[str]:
        """The kinds this run can make (without a small filesystem: no disk kinds)."""
        skipped = () if self.disk is not None else ("disk full", "read-only storage")
        return [k for k in FIRST_ROUND if k not in skipped]

    def unmade(self) -> list[str]:
        """The kinds not made yet, in the order they are tried."""
        return [k for k in self.kinds() if not self.counts[k]]

    # -- processes ------------------------------------------------------------

    def _pids(self, workflow: str) -> dict[str, int]:
        """The live instances of ``workflow`` the driver knows, and their processes
        (a snapshot reused for ``SNAPSHOT_SECONDS``: asking costs seconds under load)."""
        taken, pids = self._snapshots.get(workflow, (0.0, {}))
        if self.pace.kills_per_minute > 0:
            pass  # :meth:`watch` keeps it fresh: a kill costs a signal
        elif time.monotonic() - taken > SNAPSHOT_SECONDS:
            assert self.runtime.probe is not None
            pids = self.runtime.probe.ask(op="pids", workflow=workflow) or {}
            self._snapshots[workflow] = (time.monotonic(), pids)
        return {
            i: p for i, p in pids.items() if i in self.workload.instances and p not in self._dead
        }

    def watch(self, stop: threading.Event) -> None:
        """With a kill rate: ask for the live processes again and again in a thread of
        its own, so that a kill never waits for the probe (seconds under load)."""
        while not stop.wait(WATCH_SECONDS):
            probe = self.runtime.probe
            if probe is None:
                continue  # the whole runtime is being started again
            supervisor = probe.ask(op="supervisor", timeout=20)
            self._supervisor_pid = supervisor if isinstance(supervisor, int) else None
            for workflow in ("chaos", "chaos-shared"):
                pids = probe.ask(op="pids", workflow=workflow)
                if isinstance(pids, dict):
                    self._snapshots[workflow] = (time.monotonic(), pids)

    def _kill(self, pid: int) -> bool:
        if pid in self._dead:
            return False
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            return False
        self._dead.add(pid)
        return True

    def _instance_actor(self) -> list[str] | None:
        return self._kill_one("chaos")

    def _shared_host(self) -> list[str] | None:
        return self._kill_one("chaos-shared")

    def _kill_one(self, workflow: str) -> list[str] | None:
        """kill -9 the process of a random live instance (or of several, as the pace
        says: each one kill); the instances they held."""
        kind = "instance actor" if workflow == "chaos" else "shared host"
        pids = self._pids(workflow)
        if not pids:
            return None
        wanted = self.pace.batch(kind, sum(self.kills.values()), time.monotonic() - self.began)
        if wanted == 1:
            chosen = [pids[self.rng.choice(sorted(pids))]]
        else:
            distinct = sorted(set(pids.values()))
            chosen = self.rng.sample(distinct, min(wanted, len(distinct)))
        killed = [pid for pid in chosen if self._kill(pid)]
        if not killed:
            return None
        self.kills[kind] += len(killed)
        self.processes[kind] += len(killed)
        held = [i for i, p in pids.items() if p in killed]
        for instance_id in held:
            self._snapshots.get(workflow, (0.0, {}))[1].pop(instance_id, None)  # not twice
        self._hit(held)
        return held

    def _hit(self, ids: list[str]) -> None:
        at = time.time()
        for instance_id in ids:
            tracked: Tracked = self.workload.instances[instance_id]
            tracked.kills.append(at)

    def _supervisor(self) -> list[str] | None:
        assert self.runtime.probe is not None
        paced = self.pace.kills_per_minute > 0  # the watch knows it: no wait for the probe
        pid = self._supervisor_pid if paced else self.runtime.probe.ask(op="supervisor")
        if not (isinstance(pid, int) and self._kill(pid)):
            return None
        self.processes["supervisor"] += 1
        return []

    def _gateway(self) -> list[str]:
        self.processes["gateway"] += self.runtime.kill_gateway()
        self.rest.url = self.runtime.url
        return []

    def _worker_node(self) -> list[str]:
        self.processes["worker node"] += self.runtime.kill_node(
            self.rng.randrange(len(self.runtime.nodes))
        )
        return []

    def _whole_runtime(self) -> list[str]:
        self._snapshots.clear()
        self._supervisor_pid = None
        killed = self.runtime.kill_everything()
        self.processes["whole runtime"] += killed
        self.log.write(call="fault", kind="whole runtime", processes=killed)
        self.runtime.start()
        self.rest.url = self.runtime.url
        return []

    # -- storage and time -------------------------------------------------------

    def _disk_full(self) -> list[str]:
        assert self.disk is not None
        self.disk.fill()
        try:
            self._while_broken()
        finally:
            self.disk.free()
        return []

    def _read_only_storage(self) -> list[str]:
        assert self.disk is not None
        try:
            self.disk.make_read_only()
        except StorageFault as exc:
            self.log.write(call="fault", kind="read-only storage", ok=False, error=str(exc))
            return []
        try:
            self._while_broken()
        finally:
            self.disk.make_writable()
        return []

    def _while_broken(self) -> None:
        """Hold the fault a while; a create meanwhile must get a clear answer."""
        until = time.monotonic() + self.rng.uniform(*STORAGE_FAULT_SECONDS)
        self.serial += 1
        instance_id = f"disk{self.serial}"
        tracked = Tracked(workflow="chaos", steps=1, events=0)
        body = {"instance_id": instance_id, "params": {"ledger": self.workload.ledger, "steps": 1}}
        answer = self.rest.call("POST", "/chaos/instances", body)
        self.storage_errors[f"{answer.status} {answer.code}".strip()] += 1
        if answer.outcome in ("accepted", "unknown", "server_error"):
            tracked.accepted = True if answer.outcome == "accepted" else None
            self.workload.instances[instance_id] = tracked
        time.sleep(max(0.0, until - time.monotonic()))

    def _clock_shift(self) -> list[str]:
        low, high = CLOCK_OFFSETS
        offset = self.offsets[-1][1] + self.rng.uniform(*CLOCK_JUMPS)
        self.set_offset(min(max(offset, low), high))
        return []

    def set_offset(self, offset: float) -> None:
        partial = self.offset_file.with_suffix(".tmp")
        partial.write_text(f"{offset:.3f}")
        partial.replace(self.offset_file)
        self.offsets.append((time.time(), offset))
        self.log.write(call="clock offset", offset=offset)
