"""The replay check and ``step.patched``, without Ray: journals in memory."""

from __future__ import annotations

import asyncio
import datetime as dt

from pyflow_actors import WorkflowEntrypoint
from pyflow_actors.engine import Execution, MemoryJournal, Outcome
from pyflow_actors.entrypoint import WorkflowEvent
from pyflow_actors.errors import ReplayDiverged
from pyflow_actors.upgrade.check import CheckResult, check_journal

CALLS: list[str] = []


def make_event() -> WorkflowEvent:
    return WorkflowEvent({}, dt.datetime.now(dt.timezone.utc), "i-1", "wf")


def execute(workflow: WorkflowEntrypoint, journal: MemoryJournal) -> Outcome:
    async def go() -> Outcome:
        execution = Execution(workflow, make_event(), journal, hibernate_after=0.2)
        return await asyncio.wait_for(execution.run(), timeout=10)

    return asyncio.run(go())


def check(workflow: WorkflowEntrypoint, journal: MemoryJournal) -> CheckResult:
    return asyncio.run(asyncio.wait_for(check_journal(workflow, make_event(), journal), 10))


def record(name: str):
    def step_fn() -> str:
        CALLS.append(name)
        return name

    return step_fn


class Original(WorkflowEntrypoint):
    async def run(self, event, step):
        await step.do("fetch")(record("fetch"))
        await step.do("charge")(record("charge"))
        await step.sleep("cool off", "30 days")
        return await step.do("email")(record("email"))


def journal_of_original() -> MemoryJournal:
    journal = MemoryJournal()
    assert execute(Original(), journal).kind == "hibernate"
    CALLS.clear()
    return journal


def test_unchanged_code_is_compatible_and_no_step_runs_again():
    journal = journal_of_original()
    result = check(Original(), journal)
    assert result.compatible
    assert result.matched == 3  # fetch, charge, and the sleep in progress
    assert CALLS == []


def test_code_that_adds_steps_after_the_journal_is_compatible():
    class AddsAtTheEnd(Original):
        async def run(self, event, step):
            await step.do("fetch")(record("fetch"))
            await step.do("charge")(record("charge"))
            await step.sleep("cool off", "30 days")
            await step.do("receipt")(record("receipt"))
            return await step.do("email")(record("email"))

    assert check(AddsAtTheEnd(), journal_of_original()).compatible
    assert CALLS == []


def test_a_renamed_step_diverges_naming_the_step_and_the_position():
    class Renamed(WorkflowEntrypoint):
        async def run(self, event, step):
            await step.do("fetch")(record("fetch"))
            await step.do("charge card")(record("charge card"))
            await step.sleep("cool off", "30 days")

    result = check(Renamed(), journal_of_original())
    assert not result.compatible
    assert result.divergence is not None
    assert (result.divergence.position, result.divergence.code_key) == (2, "charge card")
    assert result.divergence.journal_key == "charge"
    assert CALLS == []
    error = result.error("wf", "i-1")
    assert isinstance(error, ReplayDiverged) and error.code == "replay.diverged"
    assert "'charge card'" in error.message and "'charge'" in error.message


def test_a_sleep_where_the_journal_holds_a_step_diverges():
    class SleepsFirst(WorkflowEntrypoint):
        async def run(self, event, step):
            await step.do("fetch")(record("fetch"))
            await step.sleep("charge", "1 day")

    result = check(SleepsFirst(), journal_of_original())
    assert result.divergence is not None
    assert (result.divergence.code_kind, result.divergence.journal_kind) == ("sleep", "step")
    assert "sleep 'charge'" in result.divergence.describe()


def test_code_that_ends_before_the_journal_does_diverges():
    class Shorter(WorkflowEntrypoint):
        async def run(self, event, step):
            return await step.do("fetch")(record("fetch"))

    result = check(Shorter(), journal_of_original())
    assert result.divergence is not None
    assert result.divergence.code_key is None
    assert result.divergence.journal_key == "charge"
    assert "the code ends" in result.divergence.describe()


def test_the_check_leaves_the_journal_untouched():
    journal = journal_of_original()
    before = {k: (r.state, len(r.attempts)) for k, r in journal.steps().items()}

    class Renamed(WorkflowEntrypoint):
        async def run(self, event, step):
            await step.do("other")(record("other"))

    check(Renamed(), journal)
    assert {k: (r.state, len(r.attempts)) for k, r in journal.steps().items()} == before


class Patched(WorkflowEntrypoint):
    async def run(self, event, step):
        await step.do("fetch")(record("fetch"))
        if step.patched("charge-twice"):
            await step.do("authorize")(record("authorize"))
        await step.do("charge")(record("charge"))
        await step.sleep("cool off", "30 days")
        return await step.do("email")(record("email"))


def test_patched_is_false_replaying_a_journal_from_before_the_patch():
    journal = journal_of_original()
    assert check(Patched(), journal).compatible
    assert execute(Patched(), journal).kind == "hibernate"
    assert CALLS == []  # authorize not run: the old path
    assert "authorize" not in journal.steps()


def test_patched_is_true_on_a_first_run_and_stays_true_on_replay():
    journal = MemoryJournal()
    assert execute(Patched(), journal).kind == "hibernate"
    assert CALLS == ["fetch", "authorize", "charge"]
    CALLS.clear()
    assert check(Patched(), journal).compatible
    assert execute(Patched(), journal).kind == "hibernate"
    assert CALLS == []  # replayed, the new path still chosen (no divergence)


def test_patched_is_true_for_an_old_instance_past_the_end_of_its_journal():
    journal = MemoryJournal()

    class OnlyFetched(WorkflowEntrypoint):
        async def run(self, event, step):
            await step.do("fetch")(record("fetch"))
            await step.sleep("before charge", "30 days")

    execute(OnlyFetched(), journal)
    del journal.steps()["before charge"]  # as if the old code stopped right after fetch
    CALLS.clear()
    execute(Patched(), journal)
    assert CALLS == ["authorize", "charge"]
