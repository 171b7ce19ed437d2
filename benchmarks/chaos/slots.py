"""When the engine's running slots were all taken, as the soak saw them.

A woken sleeper waits for a running slot when ``max_running`` instances run
(README, "Wake-up precision"; resuming instances go first). A 10-minute run
(seed 16) failed on 4 wake-ups 33 to 42 s late, all in the drain, where the
driver resumes every instance and sends every event owed at once: 15 to 30
other instances ran meanwhile and the slots stayed full. The checker must
tell an alarm that fired late from one that waited its turn, so this thread
asks the gateway every ``every`` seconds how many instances run, and the
checker measures a wake-up's lateness from the later of its due time and the
last moment the slots were full (the engine owes it the next slot, not one
at once).
"""

from __future__ import annotations

import bisect
import threading
import time

from .workload import WORKFLOWS, Rest

SAMPLE_SECONDS = 2.0


class SlotWatch:
    """Samples ``(machine time, running instances)`` through the REST list."""

    def __init__(self, rest: Rest, max_running: int, every: float = SAMPLE_SECONDS) -> None:
        self.rest, self.max_running, self.every = rest, max_running, every
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(60)

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            running = self.running()
            if running is not None:
                self.samples.append((time.time(), running))

    def running(self) -> int | None:
        """Instances running now in the soak's workflows (None: unanswered)."""
        total, asker = 0, Rest(self.rest.token)  # its answers stay out of the workload's
        asker.url = self.rest.url  # the gateway's, as the faults move it
        for workflow, _ in WORKFLOWS:
            path = f"/{workflow}/instances?status=running&per_page=100"
            answer = asker.call("GET", path, timeout=10)
            if answer.outcome != "accepted":
                return None
            total += len(answer.result or [])
        return total

    def last_full(self, since: float, until: float) -> float | None:
        """The last sample in ``[since, until]`` that saw every slot taken."""
        times = [t for t, _ in self.samples]
        first, last = bisect.bisect_left(times, since), bisect.bisect_right(times, until)
        for at, running in reversed(self.samples[first:last]):
            if running >= self.max_running:
                return at
        return None
