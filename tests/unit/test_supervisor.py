"""The supervisor's logic without Ray: scheduling, alarms, events, control, recovery.

Each test drives a real :class:`Supervisor` (real registry in a temp folder)
whose instance actors are fakes (tests/unit/fake_actors.py), so the races that
matter are set up exactly and run in milliseconds.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from pyflow_actors.config import EngineConfig, WorkflowSpec
from pyflow_actors.errors import InvalidTransition
from pyflow_actors.models import CreateOptions, InstanceStatus
from pyflow_actors.runtime.protocol import OutcomeKind
from pyflow_actors.runtime.supervisor import Supervisor
from tests import workflows as w

from .fake_actors import FakeActor, FakeBackend

pytestmark = pytest.mark.timeout(20)

WF = "echo"


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(scenario(), 10))


async def until(predicate: Callable[[], Any], timeout: float = 3.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.001)


async def started(tmp_path: Path, backend: FakeBackend, **config: Any) -> Supervisor:
    config.setdefault("max_running", 4)
    sup = Supervisor(
        EngineConfig(storage=tmp_path, workflows=(WorkflowSpec.of(WF, w.Echo),), **config),
        backend=backend,
    )
    await sup.start()
    return sup


async def create(sup: Supervisor, *ids: str) -> None:
    for instance_id in ids:
        await sup.create(WF, [CreateOptions(id=instance_id)], batch=False)


def status(sup: Supervisor, instance_id: str) -> InstanceStatus:
    return sup.table.require(WF, instance_id).status


async def actor(backend: FakeBackend, instance_id: str, n: int = 1) -> FakeActor:
    """The n-th actor made for the instance, once it is running."""
    await until(lambda: len(backend.actors_of((WF, instance_id))) >= n)
    made = backend.actors_of((WF, instance_id))[n - 1]
    await until(lambda: made.calls)
    return made


def test_only_max_running_instances_run_and_the_next_starts_when_one_ends(tmp_path):
    async def scenario() -> None:
        backend = FakeBackend()
        sup = await started(tmp_path, backend, max_running=2)
        await create(sup, "a", "b", "c")
        first = await actor(backend, "a")
        await actor(backend, "b")
        assert status(sup, "c") == InstanceStatus.QUEUED
        first.finish(output='"done"')
        # c's actor may be made (warm) before a ends; it runs only once a has ended.
        await until(lambda: status(sup, "c") == InstanceStatus.RUNNING)
        assert status(sup, "a") == InstanceStatus.COMPLETE
        await actor(backend, "c")
        assert len(backend.created) == 3

    run(scenario)


def test_an_instance_woken_by_its_event_goes_before_newer_queued_ones(tmp_path):
    async def scenario() -> None:
        backend = FakeBackend()
        sup = await started(tmp_path, backend, max_running=1)
        await create(sup, "waiter")
        (await actor(backend, "waiter")).hibernate(waiting_for=["go"])
        await until(lambda: status(sup, "waiter") == InstanceStatus.WAITING)
        await create(sup, "blocker")
        blocker = await actor(backend, "blocker")
        await create(sup, "newer")
        await sup.send_event(WF, "waiter", "go", {"n": 1})
        assert status(sup, "waiter") == InstanceStatus.QUEUED
        blocker.finish()
        woken = await actor(backend, "waiter", 2)
        assert status(sup, "newer") == InstanceStatus.QUEUED
        woken.open()
        await until(lambda: woken.delivered)
        assert [e.type for e in woken.delivered] == ["go"]

    run(scenario)


def test_an_event_sent_while_the_actor_exits_to_hibernate_wakes_it_once(tmp_path):
    async def scenario() -> None:
        backend = FakeBackend()
        sup = await started(tmp_path, backend)
        await create(sup, "x")
        first = await actor(backend, "x")
        first.open()
        first.accepting = False  # it decided to hibernate: deliveries are refused
        await sup.send_event(WF, "x", "approved", {"ok": True})
        await asyncio.sleep(0.01)
        assert first.delivered == []
        assert sup.inbox.has_any((WF, "x"))  # kept for the next actor
        first.hibernate(waiting_for=["approved"])
        second = await actor(backend, "x", 2)
        second.open()
        await until(lambda: second.delivered)
        await asyncio.sleep(0.01)
        assert [e.type for e in second.delivered] == ["approved"]
        assert not sup.inbox.has_any((WF, "x"))

    run(scenario)


def test_a_resume_while_the_actor_is_pausing_keeps_the_instance_going(tmp_path):
    async def scenario() -> None:
        backend = FakeBackend()
        sup = await started(tmp_path, backend)
        await create(sup, "p")
        first = await actor(backend, "p")
        await sup.control(WF, "p", "pause")
        assert status(sup, "p") == InstanceStatus.WAITING_FOR_PAUSE
        await sup.control(WF, "p", "resume")
        first.finish(OutcomeKind.PAUSED)  # it had paused before the resume reached it
        second = await actor(backend, "p", 2)
        assert status(sup, "p") == InstanceStatus.RUNNING
        assert first.calls[:3] == ["run:1", "pause", "unpause"]
        second.finish()
        await until(lambda: status(sup, "p") == InstanceStatus.COMPLETE)

    run(scenario)


def test_a_resume_while_the_actor_hibernates_leaves_it_waiting_for_its_alarm(tmp_path):
    async def scenario() -> None:
        backend = FakeBackend()
        # No warm pool: under load its tick may start the actor ahead of the alarm,
        # and `actor` then returns it after its "prepare", before its run.
        sup = await started(tmp_path, backend, warm_actors=0)
        await create(sup, "h")
        first = await actor(backend, "h")
        await sup.control(WF, "h", "pause")
        await sup.control(WF, "h", "resume")
        first.hibernate(wake_at=time.time() + 0.05)
        await until(lambda: status(sup, "h") == InstanceStatus.WAITING)
        second = await actor(backend, "h", 2)  # the alarm fired
        await until(lambda: "run:1" in second.calls)
        # A resumed cold actor is asked to prepare too (start_order.py).
        assert sorted(second.calls) == ["prepare", "run:1"]

    run(scenario)


def test_pausing_a_queued_instance_holds_it_and_resume_puts_it_back_in_its_place(tmp_path):
    async def scenario() -> None:
        backend = FakeBackend()
        # No warm pool: under load its tick may warm "held" before the pause.
        sup = await started(tmp_path, backend, max_running=1, warm_actors=0)
        await create(sup, "busy", "held", "later")
        busy = await actor(backend, "busy")
        await sup.control(WF, "held", "pause")
        assert status(sup, "held") == InstanceStatus.PAUSED
        busy.finish()
        later = await actor(backend, "later")
        assert backend.actors_of((WF, "held")) == []
        await sup.control(WF, "held", "resume")
        assert status(sup, "held") == InstanceStatus.QUEUED
        later.finish()
        await actor(backend, "held")

    run(scenario)


def test_terminating_a_queued_instance_never_starts_it(tmp_path):
    async def scenario() -> None:
        backend = FakeBackend()
        # No warm pool: under load its tick may warm "doomed" (the next in line)
        # before the terminate; that actor is let go unused, but it is made.
        sup = await started(tmp_path, backend, max_running=1, warm_actors=0)
        await create(sup, "busy", "doomed")
        busy = await actor(backend, "busy")
        result = await sup.control(WF, "doomed", "terminate")
        assert result.status == InstanceStatus.TERMINATED
        busy.finish()
        await until(lambda: status(sup, "busy") == InstanceStatus.COMPLETE)
        await asyncio.sleep(0.01)
        assert backend.actors_of((WF, "doomed")) == []
        with pytest.raises(InvalidTransition):
            await sup.control(WF, "doomed", "terminate")

    run(scenario)


def test_a_terminate_that_arrives_after_completion_reports_the_completion(tmp_path):
    async def scenario() -> None:
        backend = FakeBackend()
        sup = await started(tmp_path, backend)
        await create(sup, "t")
        (await actor(backend, "t")).finish(output='"early"')
        with pytest.raises(InvalidTransition):
            await sup.control(WF, "t", "terminate")
        assert status(sup, "t") == InstanceStatus.COMPLETE

    run(scenario)


def test_a_restarted_supervisor_adopts_live_actors_and_requeues_dead_ones(tmp_path):
    async def scenario() -> None:
        backend = FakeBackend()
        old = await started(tmp_path, backend)
        await create(old, "alive", "dead")
        alive = await actor(backend, "alive")
        dead = await actor(backend, "dead")
        for task in old._background:
            task.cancel()
        for live in old.actors.live.values():
            assert live.monitor is not None
            live.monitor.cancel()
        old.registry.close()  # the old supervisor is gone (kill -9)
        dead.die()  # and one actor died while no supervisor watched

        new = await started(tmp_path, backend)
        await until(lambda: len(backend.actors_of((WF, "dead"))) == 2)
        assert len(backend.actors_of((WF, "alive"))) == 1  # adopted, not doubled
        assert alive.calls == ["run:1", "run:1"]  # re-attached to the same run
        alive.finish(output='"kept"')
        await until(lambda: status(new, "alive") == InstanceStatus.COMPLETE)
        assert (await new.status(WF, "alive")).output == "kept"

    run(scenario)


def test_concurrent_describes_on_a_starting_actor_make_one_call(tmp_path):
    async def scenario() -> None:
        backend = FakeBackend()
        sup = await started(tmp_path, backend)
        await create(sup, "slow")
        starting = await actor(backend, "slow")  # up, journal not open yet
        readers = [asyncio.ensure_future(sup.describe(WF, "slow")) for _ in range(200)]
        await asyncio.sleep(0.02)
        assert starting.most_describing == 1
        starting.open()
        details = await asyncio.gather(*readers)
        assert {d.status.id for d in details} == {"slow"}

    run(scenario)


def test_a_flood_of_calls_on_a_starting_actor_holds_at_most_two_of_its_slots(tmp_path):
    # An instance actor has 64 concurrency slots; a call that waits for its
    # journal to open holds one. Describes share one call, events have one
    # delivery in flight, pause and resume return at once: a burst of every
    # kind of call holds two slots at most, so the actor's own run never waits.
    async def scenario() -> None:
        backend = FakeBackend()
        sup = await started(tmp_path, backend)
        await create(sup, "busy")
        starting = await actor(backend, "busy")  # up, journal not open yet
        calls = [sup.describe(WF, "busy") for _ in range(100)]
        calls += [sup.send_event(WF, "busy", "tick", {"n": n}) for n in range(100)]
        for _ in range(20):
            calls += [sup.control(WF, "busy", "pause"), sup.control(WF, "busy", "resume")]
        pending = [asyncio.ensure_future(call) for call in calls]
        await asyncio.sleep(0.05)
        assert 0 < starting.most_blocked <= 2
        starting.open()
        await asyncio.gather(*pending)
        await until(lambda: len(starting.delivered) == 100)
        assert [e.payload for e in starting.delivered] == [f'{{"n":{n}}}' for n in range(100)]
        assert starting.most_blocked <= 2

    run(scenario)


def test_a_crashed_actor_is_rehydrated_and_an_instance_that_always_crashes_errors(tmp_path):
    async def scenario() -> None:
        backend = FakeBackend()
        sup = await started(tmp_path, backend)
        await create(sup, "c")
        for n in range(1, 27):
            (await actor(backend, "c", n)).die()
        await until(lambda: status(sup, "c") == InstanceStatus.ERRORED)
        row = sup.table.require(WF, "c")
        assert row.error_name == "InstanceCrashed" and len(backend.created) == 26

    run(scenario)


def test_restart_cancels_the_run_and_starts_the_next_generation(tmp_path):
    async def scenario() -> None:
        backend = FakeBackend()
        sup = await started(tmp_path, backend)
        await create(sup, "r")
        first = await actor(backend, "r")
        await sup.control(WF, "r", "restart")
        second = await actor(backend, "r", 2)
        assert "cancel" in first.calls and first.killed
        await until(lambda: "run:2" in second.calls)
        # A resumed cold actor is asked to prepare too (start_order.py).
        assert sorted(second.calls) == ["prepare", "run:2"]

    run(scenario)


def test_alarms_wake_hibernated_instances_at_their_time(tmp_path):
    async def scenario() -> None:
        backend = FakeBackend()
        sup = await started(tmp_path, backend)
        await create(sup, "s1", "s2")
        due = time.time() + 0.05
        (await actor(backend, "s1")).hibernate(wake_at=due)
        (await actor(backend, "s2")).hibernate(wake_at=due + 60)
        woken = await actor(backend, "s1", 2)  # may be a warm actor, prepared ahead of time
        await until(lambda: any(c.startswith("run:") for c in woken.calls))
        assert time.time() >= due
        assert status(sup, "s2") == InstanceStatus.WAITING

    run(scenario)


def test_an_alarm_due_soon_is_woken_on_an_actor_started_ahead(tmp_path):
    async def scenario() -> None:
        backend = FakeBackend()
        sup = await started(tmp_path, backend, warm_actors=4)
        await create(sup, "s")
        due = time.time() + 0.6
        (await actor(backend, "s")).hibernate(wake_at=due)
        await until(lambda: len(backend.actors_of((WF, "s"))) == 2)
        warm = backend.actors_of((WF, "s"))[1]
        await until(lambda: warm.calls == ["prepare"])
        assert time.time() < due  # up and prepared before its alarm
        assert status(sup, "s") == InstanceStatus.WAITING
        await until(lambda: "run:1" in warm.calls)
        assert warm.calls == ["prepare", "run:1"] and len(backend.created) == 2
        assert sup.warm.admitted == 1

    run(scenario)


def test_alarms_are_warmed_as_early_as_the_measured_cold_starts_need_within_the_budget(tmp_path):
    async def scenario() -> None:
        backend = FakeBackend()
        sup = await started(tmp_path, backend, warm_actors=4, max_running=8)
        ids = [f"a{i}" for i in range(6)]
        await create(sup, *ids)
        due = time.time() + 30
        for instance_id in ids:
            (await actor(backend, instance_id)).hibernate(wake_at=due)
        assert sup.warm.made == 0  # 30 s ahead: too early at the 0.5 s first guess
        sup.actors.activation_times.extend([8.0] * 5)  # the machine is slow: 8 s a start
        await until(lambda: sup.warm.made == 4)
        assert len(sup.warm) == 4  # the budget, not six
        assert len([i for i in ids if len(backend.actors_of((WF, i))) == 2]) == 4
        assert all(status(sup, i) == InstanceStatus.WAITING for i in ids)

    run(scenario)


def test_a_warm_actor_answers_describe_and_goes_when_its_instance_is_terminated(tmp_path):
    async def scenario() -> None:
        backend = FakeBackend()
        sup = await started(tmp_path, backend, warm_actors=4)
        await create(sup, "t")
        (await actor(backend, "t")).hibernate(wake_at=time.time() + 30)
        sup.warm.max_lead = 60.0
        sup.warm.activation_seconds = 20.0  # so that it starts at once
        await until(lambda: len(backend.actors_of((WF, "t"))) == 2)
        warm = backend.actors_of((WF, "t"))[1]
        warm.open()
        await until(lambda: "prepare" in warm.calls)
        await sup.describe(WF, "t")  # the journal is held by the warm actor: ask it
        assert warm.most_describing == 1
        await sup.control(WF, "t", "terminate")
        await until(lambda: warm.killed)
        assert len(sup.warm) == 0 and sup.warm.let_go == 1

    run(scenario)


def test_no_actor_starts_ahead_without_a_budget(tmp_path):
    async def scenario() -> None:
        backend = FakeBackend()
        sup = await started(tmp_path, backend, warm_actors=0)
        await create(sup, "n")
        (await actor(backend, "n")).hibernate(wake_at=time.time() + 0.3)
        await asyncio.sleep(0.2)
        assert len(backend.created) == 1
        await actor(backend, "n", 2)  # started by the alarm itself

    run(scenario)


def test_the_head_of_the_queue_is_warmed_when_every_slot_is_taken(tmp_path):
    async def scenario() -> None:
        backend = FakeBackend()
        sup = await started(tmp_path, backend, max_running=1, warm_actors=4)
        await create(sup, "busy", "next")
        busy = await actor(backend, "busy")
        await until(lambda: backend.actors_of((WF, "next")))
        nxt = backend.actors_of((WF, "next"))[0]
        await until(lambda: nxt.calls == ["prepare"])
        assert status(sup, "next") == InstanceStatus.QUEUED
        busy.finish()
        await until(lambda: "run:1" in nxt.calls)
        assert len(backend.actors_of((WF, "next"))) == 1

    run(scenario)


def test_the_head_of_a_queue_held_by_its_workflows_cap_is_warmed_while_engine_slots_are_free(
    tmp_path,
):
    async def scenario() -> None:
        backend = FakeBackend()
        capped = WorkflowSpec.of(WF, w.Echo, max_running=1)
        config = EngineConfig(storage=tmp_path, workflows=(capped,), max_running=8, warm_actors=4)
        sup = Supervisor(config, backend=backend)
        await sup.start()
        await create(sup, "busy", "next")
        busy = await actor(backend, "busy")
        nxt = await actor(backend, "next")  # made ahead: the cap of 1 holds it, not the engine
        assert nxt.calls == ["prepare"] and status(sup, "next") == InstanceStatus.QUEUED
        busy.finish()
        await until(lambda: "run:1" in nxt.calls)
        assert len(backend.actors_of((WF, "next"))) == 1 and sup.warm.admitted == 1

    run(scenario)


def test_a_running_instance_whose_actor_waits_shows_waiting_and_the_latest_report_wins(tmp_path):
    async def scenario() -> None:
        backend = FakeBackend()
        sup = await started(tmp_path, backend)
        await create(sup, "w")
        await actor(backend, "w")
        due = time.time() + 3
        await sup.note_wait(WF, "w", generation=1, report=2, wait=(due, ["approve"]))
        shown = await sup.status(WF, "w")
        assert shown.status == InstanceStatus.WAITING and shown.wake_at == due
        assert shown.waiting_for == ["approve"]
        page = await sup.list_instances(WF, status="waiting")
        assert [i.id for i in page.instances] == ["w"]
        await sup.note_wait(WF, "w", generation=1, report=1, wait=None)  # older: ignored
        assert (await sup.status(WF, "w")).status == InstanceStatus.WAITING
        await sup.note_wait(WF, "w", generation=1, report=3, wait=None)  # busy again
        assert (await sup.status(WF, "w")).status == InstanceStatus.RUNNING
        assert status(sup, "w") == InstanceStatus.RUNNING  # the row itself never changed

    run(scenario)


def test_the_next_in_line_keeps_its_warm_actor_when_the_engine_clock_is_shifted(tmp_path):
    # The chaos soak shifts the engine's clock (never the machine's): a warm actor
    # made for a queued instance was due on the machine's clock and read on the
    # engine's, so it was let go at once, made again, and killed under its run.
    async def scenario() -> None:
        backend = FakeBackend()
        sup = await started(tmp_path, backend, warm_actors=4, max_running=1)
        sup.warm.clock = lambda: time.time() + 3600  # an hour ahead
        await create(sup, "a", "b")
        await actor(backend, "a")
        warm = await actor(backend, "b")  # made ahead: a holds the only slot
        assert warm.calls == ["prepare"]
        await asyncio.sleep(0.5)  # a few rounds of the warm loop (every 0.2 s)
        assert not warm.killed and len(backend.actors_of((WF, "b"))) == 1
        (await actor(backend, "a")).finish()
        await until(lambda: "run:1" in warm.calls)
        assert not warm.killed and sup.warm.admitted == 1

    run(scenario)
