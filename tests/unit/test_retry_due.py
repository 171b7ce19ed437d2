"""A step waiting to retry says when it tries again (describe's next_attempt_at),
computed from the journal with the step's own retry policy."""

from __future__ import annotations

import asyncio
import datetime as dt

from pyflow_actors import WorkflowEntrypoint
from pyflow_actors.engine import Execution
from pyflow_actors.entrypoint import WorkflowEvent
from pyflow_actors.storage.journal import DuckJournal, journal_path, step_infos


class Flaky(WorkflowEntrypoint):
    async def run(self, event, step):
        @step.do("charge", config={"retries": {"limit": 3, "delay": "1 hour", "backoff": "linear"}})
        async def charge():
            raise ConnectionError("card network down")

        return await charge()


def run(journal: DuckJournal) -> str:
    async def go() -> str:
        event = WorkflowEvent(None, dt.datetime.now(dt.timezone.utc), "i-1", "wf")
        outcome = await Execution(Flaky(), event, journal, hibernate_after=0.5).run()
        return outcome.kind

    return asyncio.run(asyncio.wait_for(go(), 10))


def test_a_retrying_step_reports_its_last_error_and_the_next_attempt_due(tmp_path):
    with DuckJournal(journal_path(tmp_path, "wf", "i-1")) as journal:
        assert run(journal) == "hibernate"  # a one-hour retry delay hibernates
        [info] = step_infos(journal)
    [attempt] = info.attempts
    assert attempt.error is not None and attempt.error.name == "ConnectionError"
    assert attempt.end is not None
    assert info.next_attempt_at == attempt.end + 3600  # linear: 1 hour before retry 1
    assert not info.finished


def test_a_finished_step_has_no_next_attempt(tmp_path):
    class Once(WorkflowEntrypoint):
        async def run(self, event, step):
            return await step.do("once")(lambda: 1)

    with DuckJournal(journal_path(tmp_path, "wf", "i-1")) as journal:

        async def go() -> None:
            event = WorkflowEvent(None, dt.datetime.now(dt.timezone.utc), "i-1", "wf")
            await Execution(Once(), event, journal).run()

        asyncio.run(go())
        [info] = step_infos(journal)
    assert info.finished and info.next_attempt_at is None
