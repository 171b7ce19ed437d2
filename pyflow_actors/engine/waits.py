"""What a run waits on: sleeps, retry delays and event waits, and events matched to waits.

A :class:`Waiter` is one branch of ``run()`` waiting; the execution keeps the
list and decides from it when the run may hibernate: a sleep or retry delay
longer than ``hibernate_after``, or an event wait that has listened that long.
:func:`match_events` hands buffered events to event waits (in order, each event
to one wait only), journaling each before the wait returns it.
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from .. import serialization
from .. import step as interface
from .records import EventRecord, Journal, StepRecord


@dataclass(eq=False)
class Waiter:
    """One branch of ``run()`` waiting, until ``deadline`` (epoch seconds)."""

    kind: Literal["sleep", "retry", "event"]
    deadline: float
    since: float  # when this process began waiting
    future: asyncio.Future[interface.WorkflowStepEvent]
    event_type: str | None = None
    key: str | None = None

    def hibernatable(self, now: float, hibernate_after: float) -> bool:
        """Whether the process may go while this wait goes on."""
        if self.kind == "event":
            # A live instance keeps listening for a while: quick replies are
            # delivered without a new process. Then it hibernates.
            return now - self.since >= hibernate_after
        return self.deadline - now > hibernate_after

    def hibernatable_at(self, hibernate_after: float) -> float:
        """When this wait becomes hibernatable by itself (``inf``: never, by time alone)."""
        if self.kind == "event":
            return self.since + hibernate_after
        return math.inf


def match_events(
    waiters: list[Waiter],
    inbox: list[EventRecord],
    journal: Journal,
    journal_steps: Mapping[str, StepRecord],
    clock: Callable[[], float],
) -> None:
    """Hand each event wait the first buffered event of its type, journaled as consumed."""
    for waiter in list(waiters):
        if waiter.kind != "event" or waiter.future.done() or waiter.key is None:
            continue
        for event in inbox:
            if event.type != waiter.event_type:
                continue
            inbox.remove(event)
            now = clock()
            timestamp = _dt.datetime.fromtimestamp(event.received_at, _dt.timezone.utc)
            value = {
                "type": event.type,
                "payload": serialization.loads(event.payload),
                "timestamp": timestamp.isoformat(),
            }
            text = serialization.dumps(value)
            journal.consume_event(waiter.key, event.event_id, now, text)
            record = journal_steps[waiter.key]
            record.state, record.ended_at, record.output = "complete", now, text
            waiter.future.set_result(event_result(value))
            break


def event_result(value: Mapping[str, Any]) -> interface.WorkflowStepEvent:
    """The event a wait returns, from its journaled form (timestamp as ISO text)."""
    timestamp = value["timestamp"]
    if isinstance(timestamp, str):
        timestamp = _dt.datetime.fromisoformat(timestamp)
    return {"type": value["type"], "payload": value["payload"], "timestamp": timestamp}


WaitSummary = tuple[float | None, list[str]]  # (earliest deadline, event types waited for)


def wait_summary(waiters: list[Waiter]) -> WaitSummary | None:
    """What a run that settled is waiting for; None if it waits for nothing."""
    if not waiters:
        return None
    deadline = min(w.deadline for w in waiters)
    types = sorted({w.event_type for w in waiters if w.event_type})
    return (None if math.isinf(deadline) else deadline, types)
