"""How fast the soak kills: a target of kills per minute (``--kills-per-minute``,
``CHAOS_KILLS_PER_MINUTE``), or none (one process a fault, the quick run's pace).

A kill is one kill -9 of one chosen process: an instance actor, a shared host,
the supervisor, the gateway, a worker node, the whole runtime (each of the last
two counted once, whatever number of processes went with it). At ~6 faults a
minute, one process each, 1,000 kills take hours; with a target, a fault of the
cheap kinds (instance actors, shared hosts: a signal each) kills as many of the
live processes it sees as the soak is behind its target (up to
``MAX_BATCH``), and the costly kinds (a worker node ~12 s, the whole runtime
~30 to 80 s, a full or read-only disk ~12 s) wait longer between two of them,
so that the time goes to kills while every kind stays in the mix.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# Several kills in one fault: only of these kinds (a signal each, no restart to wait for).
BATCHED = ("instance actor", "shared host")
MAX_BATCH = 6
# Seconds at least between two faults of a costly kind when a target is set (the
# weights are unchanged: each kind comes as soon as its gap allows, at random).
PACED_GAPS: dict[str, float] = {
    "supervisor": 3,
    "gateway": 90,
    "worker node": 100,
    "whole runtime": 420,
    "disk full": 180,
    "read-only storage": 180,
}


# Weights that differ when a target is set: on a loaded machine few instance actors
# are live at once (often 1 to 3), so the supervisor (a kill costs ~0.1 s, Ray
# restarts it) comes more often and the clock shifts less.
PACED_WEIGHTS: dict[str, float] = {"supervisor": 24, "clock shift": 3}


@dataclass(frozen=True)
class Pace:
    """``kills_per_minute`` 0: one process a fault and the quick run's gaps."""

    kills_per_minute: float = 0.0

    def gap(self, kind: str, unpaced: float) -> float:
        """Seconds at least between two faults of ``kind``."""
        if self.kills_per_minute <= 0:
            return unpaced
        return max(unpaced, PACED_GAPS.get(kind, 0.0))

    def weight(self, kind: str, unpaced: float) -> float:
        """How often ``kind`` is chosen, against the others ready."""
        if self.kills_per_minute <= 0:
            return unpaced
        return PACED_WEIGHTS.get(kind, unpaced)

    def batch(self, kind: str, kills: int, seconds: float) -> int:
        """How many processes a fault of ``kind`` kills, ``kills`` made in ``seconds``
        of faults: as many as the soak is behind its target, 1 to ``MAX_BATCH``."""
        if self.kills_per_minute <= 0 or kind not in BATCHED:
            return 1
        behind = self.kills_per_minute * seconds / 60.0 - kills
        return min(MAX_BATCH, max(1, math.ceil(behind)))
