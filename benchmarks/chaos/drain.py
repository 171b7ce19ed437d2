"""How long the soak waits, after its faults, for the accepted work to end.

A constant was wrong both ways: 300 s was too short for the last instances
of a 10-minute run on a loaded machine (seed 16: 6, then 4 instances still
running, their steps still being written, when it ran out), and a quick run
need not wait that long. The drain is sized from the work left instead: it
lasts while the work goes on, and ends once no step attempt has been
written to the ledger for ``stall`` seconds (the engine is stuck: what is
not final then is reported), or after ``cap`` seconds in all.
"""

from __future__ import annotations

import time
from pathlib import Path

STALL_SECONDS = 120.0  # longer than a whole-runtime restart here (40 to 80 s) and a nap
CAP_SECONDS = 3600.0


class Drain:
    """``over()`` says when to stop waiting; ``began`` and ``seconds`` for the figures."""

    def __init__(
        self, ledger: Path, stall: float = STALL_SECONDS, cap: float = CAP_SECONDS
    ) -> None:
        self.ledger, self.stall, self.cap = ledger, stall, cap
        self.began = time.monotonic()
        self._size, self._moved = self._ledger_size(), self.began
        self.stalled = False

    def over(self) -> bool:
        now = time.monotonic()
        size = self._ledger_size()
        if size != self._size:
            self._size, self._moved = size, now
        self.stalled = now - self._moved > self.stall
        return self.stalled or now - self.began > self.cap

    @property
    def seconds(self) -> float:
        return time.monotonic() - self.began

    def _ledger_size(self) -> int:
        try:
            return self.ledger.stat().st_size
        except OSError:
            return 0
