"""Restart from a step, without Ray: the journal keeps what came before the step,
the supervisor finds the step and hands its key to the next generation, the
client and the gateway read Cloudflare's ``from`` shapes."""

from __future__ import annotations

import asyncio
from pathlib import Path

import cloudflare
import pytest

from pyflow_actors.client.api import AsyncClient
from pyflow_actors.client.shapes import restart_from
from pyflow_actors.engine import EventRecord, RunResult, StepRecord
from pyflow_actors.engine.records import AttemptRecord
from pyflow_actors.errors import InvalidBindingCall, StepNotFound, ValidationError
from pyflow_actors.models import CreateOptions, InstanceStatus, RestartFrom, StepInfo
from pyflow_actors.storage.journal import DuckJournal
from pyflow_actors.storage.registry import Registry
from tests.fake_transport import FakeTransport

from .fake_actors import FakeBackend
from .gateway_on_fake import ACCOUNT, sdk_call
from .test_supervisor import WF, actor, create, run, started, until

pytestmark = pytest.mark.timeout(30)


def _step(journal: DuckJournal, key: str, seq: int, kind: str = "step") -> None:
    record = StepRecord(key=key, name=key.split("-")[0], kind=kind, seq=seq, started_at=seq)
    journal.begin_step(record)
    if kind == "step":
        journal.begin_attempt(key, AttemptRecord(1, float(seq)))
        journal.end_attempt(key, 1, seq + 0.5, None, finish="complete", output=f'"{key}"')


def test_reset_keeping_before_a_step_keeps_earlier_steps_attempts_and_consumed_events(tmp_path):
    with DuckJournal(tmp_path / "j.duckdb") as journal:
        _step(journal, "fetch", 1)
        journal.begin_step(StepRecord(key="w", name="w", kind="waitForEvent", seq=2, started_at=2))
        journal.add_events([EventRecord("e1", "go", "1", 2.0), EventRecord("e2", "go", "2", 2.1)])
        journal.consume_event("w", "e1", 2.5, '{"type":"go"}')
        _step(journal, "charge", 3)
        _step(journal, "charge-2", 4)
        journal.set_result(RunResult(InstanceStatus.COMPLETE, output="1", ended_at=5.0))

        journal.reset(generation=2, keep_before="charge")

        steps = journal.steps()
        assert list(steps) == ["fetch", "w"]
        assert [a.n for a in steps["fetch"].attempts] == [1]
        assert steps["fetch"].output == '"fetch"'
        assert journal.pending_events() == []  # e2 was buffered for the erased run
        assert journal.event_count() == 1  # e1, consumed by the kept wait
        assert journal.result() is None and journal.meta()["generation"] == "2"


def test_reset_keeping_before_an_unknown_key_erases_everything(tmp_path):
    with DuckJournal(tmp_path / "j.duckdb") as journal:
        _step(journal, "fetch", 1)
        journal.reset(generation=2, keep_before="nope")
        assert journal.steps() == {}


def test_restart_from_names_the_nth_step_of_its_type():
    assert RestartFrom(name="charge").step_key == "charge"
    assert RestartFrom(name="charge", count=3).step_key == "charge-3"
    assert RestartFrom(name="nap", type="sleep").journal_kind == "sleep"
    assert RestartFrom(name="charge").journal_kind == "step"


@pytest.mark.parametrize(
    ("options", "from_", "expected"),
    [
        (None, None, None),
        (None, "charge", RestartFrom(name="charge")),
        (None, {"name": "charge", "count": 2}, RestartFrom(name="charge", count=2)),
        (
            {"from": {"name": "w", "type": "waitForEvent"}},
            None,
            RestartFrom(name="w", type="waitForEvent"),
        ),
    ],
)
def test_client_reads_every_restart_shape(options, from_, expected):
    assert restart_from(options, from_) == expected


@pytest.mark.parametrize(
    ("options", "from_"),
    [
        (None, {"name": "x", "count": 0}),
        (None, {"name": "x", "type": "step"}),
        ({"to": 1}, None),
        (None, 3),
    ],
)
def test_a_bad_restart_shape_is_a_clear_error(options, from_):
    with pytest.raises(InvalidBindingCall, match="restart takes"):
        restart_from(options, from_)


def _info(key: str, kind: str = "step") -> StepInfo:
    return StepInfo(type=kind, name=key, start=1.0, finished=True, success=True)  # type: ignore[arg-type]


def test_supervisor_restarts_from_a_step_and_the_next_generation_keeps_before_it(tmp_path):
    async def scenario() -> None:
        backend = FakeBackend()
        sup = await started(tmp_path, backend)
        await create(sup, "r")
        first = await actor(backend, "r")
        first.steps = [_info("fetch"), _info("charge"), _info("charge-2")]
        first.open()
        await sup.control(WF, "r", "restart", {"name": "charge", "count": 2})
        second = await actor(backend, "r", 2)
        assert "cancel" in first.calls
        assert [(r.generation, r.keep_before) for r in second.requests] == [(2, "charge-2")]
        sup.registry.close()
        [row] = [r for r in Registry(tmp_path).instances() if r.id == "r"]
        assert row.restart_from == "charge-2"  # a new supervisor hands the same key

    run(scenario)


def test_supervisor_refuses_a_restart_from_a_missing_step_and_leaves_the_run_alone(tmp_path):
    async def scenario() -> None:
        backend = FakeBackend()
        sup = await started(tmp_path, backend)
        await create(sup, "r")
        first = await actor(backend, "r")
        first.steps = [_info("charge"), _info("nap", "sleep")]
        first.open()
        with pytest.raises(StepNotFound, match="step:charge, sleep:nap"):
            await sup.control(WF, "r", "restart", {"name": "nap"})  # a sleep, not a do
        with pytest.raises(ValidationError, match="only for a restart"):
            await sup.control(WF, "r", "pause", {"name": "charge"})
        assert "cancel" not in first.calls and len(backend.created) == 1
        assert sup.table.require(WF, "r").status == InstanceStatus.RUNNING
        await sup.control(WF, "r", "restart", {"name": "nap", "type": "sleep"})
        second = await actor(backend, "r", 2)
        await until(lambda: second.requests)
        assert second.requests[0].keep_before == "nap"

    run(scenario)


def test_plain_restart_forgets_an_earlier_restart_point(tmp_path):
    async def scenario() -> None:
        backend = FakeBackend()
        sup = await started(tmp_path, backend)
        await create(sup, "r")
        first = await actor(backend, "r")
        first.steps = [_info("charge")]
        first.open()
        await sup.control(WF, "r", "restart", {"name": "charge"})
        await actor(backend, "r", 2)
        await sup.control(WF, "r", "restart")
        third = await actor(backend, "r", 3)
        assert third.requests[0].keep_before is None

    run(scenario)


def test_the_official_sdk_restart_from_reaches_the_transport():
    fake = FakeTransport()
    asyncio.run(fake.create("hello", [CreateOptions(id="i1")], batch=False))
    result = sdk_call(
        fake,
        lambda cf: cf.workflows.instances.status.edit(
            "i1",
            account_id=ACCOUNT,
            workflow_name="hello",
            status="restart",
            from_={"name": "charge", "count": 2, "type": "do"},
        ),
    )
    assert result.status == "queued"
    assert fake.restarted_from == RestartFrom(name="charge", count=2)


def test_the_gateway_refuses_from_on_a_pause_and_a_bad_from():
    fake = FakeTransport()
    asyncio.run(fake.create("hello", [CreateOptions(id="i1")], batch=False))

    def edit(**body: object):  # type: ignore[no-untyped-def]
        return lambda cf: cf.workflows.instances.status.edit(
            "i1", account_id=ACCOUNT, workflow_name="hello", **body
        )

    with pytest.raises(cloudflare.BadRequestError, match="only for a restart"):
        sdk_call(fake, edit(status="pause", extra_body={"from": {"name": "x"}}))
    with pytest.raises(cloudflare.BadRequestError, match="count"):
        sdk_call(fake, edit(status="restart", from_={"name": "x", "count": 0}))


def test_our_client_sends_from_through_the_transport(tmp_path: Path):
    fake = FakeTransport()
    client = AsyncClient(fake)

    async def go() -> None:
        instance = await client.workflow("hello").create(id="i1")
        await instance.restart(from_={"name": "charge", "count": 2})

    asyncio.run(go())
    assert fake.restarted_from == RestartFrom(name="charge", count=2)
