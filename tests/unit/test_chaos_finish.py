"""The chaos soak's end (benchmarks/chaos/workload.py ``finish``): an instance made
unsure by an event whose outcome is unknown still gets the events it may wait
for. Seed 16's drain ended by "stall" on 3 such instances: the soak had stopped
sending to them, so they waited for events that never came (their 30-minute
timeout), not an engine fault.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from benchmarks.chaos.workload import Answer, CallLog, Rest, Tracked, Workload


class ScriptedRest(Rest):
    """Answers events from ``events`` in order (then 409: the instance is final)."""

    def __init__(self, events: list[Answer]) -> None:
        super().__init__("token")
        self.events, self.sent = events, []  # type: list[Answer], list[Any]

    def call(self, method: str, path: str, body: Any = None, timeout: float = 60) -> Answer:
        if path.endswith("/events/item"):
            self.sent.append(body)
            return self.events.pop(0) if self.events else Answer("refused", 409, "10412")
        return Answer("accepted", 200, result={})


def finished(tmp_path: Path, tracked: Tracked, rest: ScriptedRest) -> Tracked:
    workload = Workload(rest, random.Random(1), tmp_path / "ledger.txt", CallLog(tmp_path / "log"))
    workload.instances["c1"] = tracked
    workload.finish(lambda: False)
    return tracked


def test_an_unsure_instance_is_sent_the_events_it_may_still_wait_for(tmp_path: Path):
    rest = ScriptedRest([Answer("accepted", 200)] * 2)
    tracked = Tracked("chaos", steps=1, events=3, sent=[0], accepted=True, certain=False)
    finished(tmp_path, tracked, rest)
    assert rest.sent == [1, 2] and tracked.sent == [0, 1, 2]


def test_an_event_lost_in_the_drain_is_sent_again_until_answered(tmp_path: Path):
    rest = ScriptedRest([Answer("unknown"), Answer("accepted", 200)])
    tracked = Tracked("chaos", steps=1, events=1, accepted=True)
    finished(tmp_path, tracked, rest)
    assert rest.sent == [0, 0] and tracked.sent == [0] and not tracked.certain


def test_an_instance_that_had_every_event_already_stops_at_its_409(tmp_path: Path):
    rest = ScriptedRest([])  # final: every event answered 409
    tracked = Tracked("chaos", steps=1, events=3, sent=[0], accepted=True, certain=False)
    finished(tmp_path, tracked, rest)
    assert rest.sent == [1] and tracked.sent == [0]
