"""A pause requested before the run starts (the actor was still starting)."""

from __future__ import annotations

import asyncio
import datetime as dt

from pyflow_actors import WorkflowEntrypoint, WorkflowEvent, WorkflowStep
from pyflow_actors.engine import Execution, MemoryJournal, OutcomeKind


class OneStep(WorkflowEntrypoint):
    async def run(self, event: WorkflowEvent, step: WorkflowStep) -> int:
        result: int = await step.do("one")(lambda: 1)
        return result


def test_a_pause_requested_before_the_run_ends_it_paused_before_its_first_attempt() -> None:
    # The instance actor calls request_pause() before run() when a pause
    # arrives while it starts; the run used to wait for ever at the first step.
    journal = MemoryJournal()

    async def go() -> OutcomeKind:
        event = WorkflowEvent(None, dt.datetime.now(dt.timezone.utc), "i-1", "wf")
        execution = Execution(OneStep(), event, journal, hibernate_after=5.0)
        execution.request_pause()
        outcome = await asyncio.wait_for(execution.run(), timeout=5)
        return outcome.kind

    assert asyncio.run(go()) is OutcomeKind.PAUSED
    assert [len(record.attempts) for record in journal.steps().values()] == [0]
