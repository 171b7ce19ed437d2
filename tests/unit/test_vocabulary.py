"""One vocabulary: outcome kinds, final statuses and shared names are enums and constants."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from pathlib import Path

import pytest

from pyflow_actors import WorkflowEntrypoint, WorkflowEvent, WorkflowStep
from pyflow_actors.constants import SUPERVISOR_NAME, actor_name
from pyflow_actors.engine import Execution, MemoryJournal, OutcomeKind, RunResult
from pyflow_actors.models import FINAL_STATUSES, InstanceStatus
from pyflow_actors.storage.journal import DuckJournal


class Finishes(WorkflowEntrypoint):
    async def run(self, event: WorkflowEvent, step: WorkflowStep) -> object:
        if event.payload == "fail":
            raise ValueError("asked to fail")
        if event.payload == "sleep":
            await step.sleep("a long nap", "1 hour")
        return await step.do("one")(lambda: 1)


def outcome_of(payload: str, *, pause: bool = False, cancel: bool = False) -> OutcomeKind:
    async def go() -> OutcomeKind:
        event = WorkflowEvent(payload, dt.datetime.now(dt.timezone.utc), "i-1", "wf")
        execution = Execution(Finishes(), event, MemoryJournal(), hibernate_after=0.05)
        if pause:
            execution.request_pause()
        run = asyncio.ensure_future(execution.run())
        if cancel:
            await asyncio.sleep(0)
            execution.cancel()
        outcome = await asyncio.wait_for(run, timeout=10)
        return outcome.kind

    return asyncio.run(go())


@pytest.mark.parametrize(
    ("payload", "options", "expected"),
    [
        ("ok", {}, OutcomeKind.COMPLETE),
        ("fail", {}, OutcomeKind.ERRORED),
        ("sleep", {}, OutcomeKind.HIBERNATE),
        ("ok", {"pause": True}, OutcomeKind.PAUSED),
        ("sleep", {"cancel": True}, OutcomeKind.CANCELLED),
    ],
)
def test_every_run_ends_with_an_outcome_kind_member(
    payload: str, options: dict[str, bool], expected: OutcomeKind
) -> None:
    kind = outcome_of(payload, **options)
    assert type(kind) is OutcomeKind and kind is expected


def test_outcome_kinds_read_as_their_wire_values() -> None:
    # The runtime journals and sends them: they must read as the plain words.
    assert str(OutcomeKind.HIBERNATE) == f"{OutcomeKind.HIBERNATE}" == "hibernate"
    assert json.dumps(OutcomeKind.COMPLETE) == '"complete"'
    assert isinstance(OutcomeKind.COMPLETE, str) and isinstance(InstanceStatus.COMPLETE, str)
    assert OutcomeKind.COMPLETE.value == InstanceStatus.COMPLETE.value == "complete"
    assert {k.value for k in OutcomeKind} >= {s.value for s in FINAL_STATUSES}


def test_only_final_outcomes_have_a_final_status() -> None:
    finals = {kind: kind.final_status for kind in OutcomeKind if kind.final_status is not None}
    assert finals == {
        OutcomeKind.COMPLETE: InstanceStatus.COMPLETE,
        OutcomeKind.ERRORED: InstanceStatus.ERRORED,
        OutcomeKind.TERMINATED: InstanceStatus.TERMINATED,
    }
    assert set(finals.values()) == FINAL_STATUSES
    assert {kind for kind in OutcomeKind if kind.is_final} == set(finals)


def test_the_journal_result_is_a_final_instance_status(tmp_path: Path) -> None:
    journal = DuckJournal(tmp_path / "i-1.duckdb")
    try:
        journal.set_meta(status=InstanceStatus.RUNNING)
        assert journal.result() is None
        journal.set_result(RunResult(InstanceStatus.ERRORED, error_name="E", ended_at=2.0))
        result = journal.result()
        assert result is not None and result.status is InstanceStatus.ERRORED
        assert journal.meta()["status"] == "errored"
    finally:
        journal.close()


def test_actors_are_found_by_the_names_in_constants() -> None:
    assert SUPERVISOR_NAME == "pyflow-supervisor"
    assert actor_name("onboarding", "user-42") == "wf/onboarding/user-42"
