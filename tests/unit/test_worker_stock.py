"""The worker stock's arithmetic and its rounds, without Ray: idle workers kept on
every node, refilled after an actor start, never more than the budget leaves."""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import replace

import pytest

from pyflow_actors.config import WorkflowSpec
from pyflow_actors.limits import DEFAULT_LIMITS
from pyflow_actors.models import InstanceStatus
from pyflow_actors.runtime.protocol import InstanceSetup
from pyflow_actors.runtime.supervisor import warm as warm_module
from pyflow_actors.runtime.supervisor import worker_stock as stock_module
from pyflow_actors.runtime.supervisor.warm import WarmPool
from pyflow_actors.runtime.supervisor.worker_stock import (
    SETTLE_SECONDS,
    StockedBackend,
    StockPlan,
    WorkerStock,
)
from pyflow_actors.storage.registry import InstanceRow

from .fake_actors import FakeBackend

pytestmark = pytest.mark.timeout(20)


def idle(*pids: int) -> frozenset[int]:
    return frozenset(pids)


NONE = idle()


def test_a_node_is_filled_to_its_stock_and_not_asked_again_while_the_workers_start():
    plan = StockPlan(per_node=2)
    assert plan.to_ask({"a": NONE}, room=10, now=0.0) == {"a": 2}
    assert plan.to_ask({"a": NONE}, room=10, now=1.0) == {}  # still starting
    assert plan.to_ask({"a": idle(11, 12)}, room=10, now=2.0) == {}  # arrived
    assert plan.to_ask({"a": idle(12)}, room=10, now=3.0) == {"a": 1}  # an actor took one


def test_an_arrival_is_seen_even_when_an_actor_took_another_worker_in_between():
    plan = StockPlan(per_node=2)
    assert plan.to_ask({"a": idle(11)}, room=10, now=0.0) == {"a": 1}
    # 12 arrived and an actor took 11: the count is the same, the stock is short.
    assert plan.to_ask({"a": idle(12)}, room=10, now=1.0) == {"a": 1}


def test_workers_asked_and_held_on_every_node_never_exceed_the_room():
    plan = StockPlan(per_node=3)
    asked = plan.to_ask({"a": idle(11), "b": NONE}, room=4, now=0.0)
    assert asked == {"b": 3}  # the emptiest node first, then what the room leaves
    assert sum(asked.values()) + 1 <= 4
    assert plan.held(now=0.0) == 4
    assert plan.to_ask({"a": idle(11), "b": NONE}, room=4, now=1.0) == {}


def test_a_smaller_room_asks_nothing_while_the_stock_holds_it_already():
    plan = StockPlan(per_node=2)
    assert plan.to_ask({"a": idle(11, 12)}, room=1, now=0.0) == {}
    assert plan.to_ask({"a": NONE}, room=0, now=1.0) == {}


def test_a_prestart_never_seen_idle_is_asked_again_after_the_settle_time():
    plan = StockPlan(per_node=1)
    assert plan.to_ask({"a": NONE}, room=5, now=0.0) == {"a": 1}
    assert plan.to_ask({"a": NONE}, room=5, now=SETTLE_SECONDS / 2) == {}
    # The raylet dropped it (it starts at most num_cpus workers at once): ask again.
    assert plan.to_ask({"a": NONE}, room=5, now=SETTLE_SECONDS + 0.1) == {"a": 1}


def test_a_node_that_left_the_cluster_is_forgotten():
    plan = StockPlan(per_node=2)
    plan.to_ask({"a": NONE, "b": idle(21, 22)}, room=10, now=0.0)
    assert plan.held(now=0.0) == 4
    plan.to_ask({"b": idle(21, 22)}, room=10, now=1.0)
    assert plan.held(now=1.0) == 2 and "a" not in plan.asked


class FakeRaylets:
    def __init__(self, idle: dict[str, frozenset[int]], fail: bool = False) -> None:
        self.idle_now, self.fail = idle, fail
        self.prestarts: list[tuple[str, int, float]] = []
        self.looks = 0

    async def idle(self) -> dict[str, frozenset[int]]:
        self.looks += 1
        if self.fail:
            raise ConnectionError("raylet gone")
        return dict(self.idle_now)

    async def prestart(self, node: str, count: int, keep_alive: float) -> None:
        self.prestarts.append((node, count, keep_alive))


async def _round(stock: WorkerStock, room: int = 10) -> None:
    stock.round(room)
    if stock._refill is not None:
        await stock._refill


def test_an_actor_start_pokes_the_stock_and_the_next_round_refills_it(monkeypatch):
    monkeypatch.setattr(stock_module, "MIN_LOOK_SECONDS", 0.0)

    async def scenario() -> None:
        raylets = FakeRaylets({"a": NONE})
        stock = WorkerStock(raylets, per_node=2, keep_alive=600)
        await _round(stock)
        assert raylets.prestarts == [("a", 2, 600)]
        raylets.idle_now = {"a": idle(11, 12)}
        await _round(stock)  # within CHECK_SECONDS and no poke: no look
        assert raylets.looks == 1
        stock.poke()
        await _round(stock)  # both arrived: nothing to ask
        assert raylets.looks == 2 and len(raylets.prestarts) == 1
        backend = StockedBackend(FakeBackend(), stock)
        await backend.create(_setup("i1"))
        while backend.starting:  # until the actor answers its first call: then a poke
            await asyncio.sleep(0.001)
        raylets.idle_now = {"a": idle(12)}  # the actor took a stock worker
        await _round(stock)
        assert raylets.looks == 3 and raylets.prestarts[-1] == ("a", 1, 600)
        assert stock.asked == 3

    asyncio.run(scenario())


def test_a_failing_raylet_is_left_alone_for_a_while_not_raised_to_the_supervisor(monkeypatch):
    monkeypatch.setattr(stock_module, "MIN_LOOK_SECONDS", 0.0)

    async def scenario() -> None:
        raylets = FakeRaylets({}, fail=True)
        stock = WorkerStock(raylets, per_node=2, keep_alive=600)
        await _round(stock)
        assert raylets.looks == 1
        stock.poke()  # an actor start: still no look while it backs off
        await _round(stock)
        assert raylets.looks == 1 and raylets.prestarts == []
        assert stock._earliest > time.monotonic() + 1

    asyncio.run(scenario())


def test_looks_are_spaced_even_when_actor_starts_poke_the_stock_often():
    async def scenario() -> None:
        raylets = FakeRaylets({"a": idle(11, 12)})
        stock = WorkerStock(raylets, per_node=2, keep_alive=600)
        for _ in range(5):
            stock.poke()
            await _round(stock)
        assert raylets.looks == 1

    asyncio.run(scenario())


def test_a_warm_start_may_take_a_stocked_worker_so_the_stock_does_not_shrink_its_room(
    monkeypatch,
):
    monkeypatch.setattr(stock_module, "MIN_LOOK_SECONDS", 0.0)

    async def scenario() -> None:
        raylets = FakeRaylets({"a": NONE})
        stock = WorkerStock(raylets, per_node=2, keep_alive=600)
        pool = WarmPool(FakeBackend(), budget=3, parallelism=8, max_lead=60, stock=stock)
        assert isinstance(pool.backend, StockedBackend)  # every actor start pokes it
        pool.plan([], Line(), lambda key: False)  # quiet: the stock is filled
        await stock._refill
        raylets.idle_now = {"a": idle(11, 12)}
        assert pool.room() == 3  # its two idle workers are for the warm actors' starts
        pool.warm[("wf", "w1")] = warm_module.Warm(asyncio.get_running_loop().create_future())
        stock.poke()
        await _round(stock, room=pool.budget - len(pool))
        assert raylets.prestarts == [("a", 2, 600)]  # held 2 of the 2 the budget leaves

    asyncio.run(scenario())


class Line:
    """The ready queue as the pool reads it."""

    def __init__(self, *rows: InstanceRow) -> None:
        self.rows = list(rows)

    def peek(self, n: int) -> list[InstanceRow]:
        return self.rows[:n]

    def holds(self, key: tuple[str, str]) -> bool:
        return any(row.key == key for row in self.rows)


def _row(instance_id: str, status: InstanceStatus, wake_at: float | None = None) -> InstanceRow:
    return InstanceRow("wf", instance_id, status, None, time.time(), wake_at=wake_at)


def test_the_stock_waits_while_the_warm_pool_has_actors_to_start_for_due_alarms(monkeypatch):
    monkeypatch.setattr(stock_module, "MIN_LOOK_SECONDS", 0.0)

    async def scenario() -> None:
        raylets = FakeRaylets({"a": NONE})
        backend = FakeBackend()
        stock = WorkerStock(raylets, per_node=2, keep_alive=600)
        pool = WarmPool(backend, budget=10, parallelism=2, max_lead=60, stock=stock)
        alarms = [_row(f"s{i}", InstanceStatus.WAITING, time.time() + 40) for i in range(3)]

        def busy(key: tuple[str, str]) -> bool:
            return False

        assert pool.plan(alarms, Line(), busy) == []  # due in 40 s: not yet, but soon
        assert stock._refill is None and raylets.looks == 0
        pool.activation_seconds = 30.0  # now each is wanted at once
        for row in pool.plan(alarms, Line(), busy):
            pool.start(row, _setup(row.id))
        assert len(pool) == 2 and stock._refill is None  # two starting, one to go
        await asyncio.gather(*(w.ready for w in pool.warm.values()))
        for row in pool.plan(alarms, Line(), busy):
            pool.start(row, _setup(row.id))
        assert stock._refill is None  # the third is starting
        await asyncio.gather(*(w.ready for w in pool.warm.values()))
        assert pool.plan(alarms, Line(), busy) == []  # every due alarm has its actor
        await stock._refill
        assert raylets.looks == 1 and raylets.prestarts == [("a", 2, 600)]

    asyncio.run(scenario())


def test_the_stock_waits_while_an_instance_is_queued_or_an_actor_is_starting(monkeypatch):
    monkeypatch.setattr(stock_module, "MIN_LOOK_SECONDS", 0.0)

    async def scenario() -> None:
        raylets = FakeRaylets({"a": NONE})
        stock = WorkerStock(raylets, per_node=2, keep_alive=600)
        backend = FakeBackend()
        pool = WarmPool(backend, budget=10, parallelism=2, max_lead=60, stock=stock)
        queued = _row("q", InstanceStatus.QUEUED)
        pool.plan([], Line(queued), lambda key: True)  # queued (its actor elsewhere)
        assert stock._refill is None
        assert isinstance(pool.backend, StockedBackend)
        backend.gate.clear()  # a slow actor start
        creating = asyncio.ensure_future(pool.backend.create(_setup("lone")))
        await asyncio.sleep(0)
        assert pool.backend.starting == 1
        pool.plan([], Line(), lambda key: False)  # a lone create's actor starting
        assert stock._refill is None
        backend.gate.set()
        await creating
        while pool.backend.starting:  # until the actor answers its first call
            await asyncio.sleep(0.001)
        pool.plan([], Line(), lambda key: False)  # quiet at last: the poke is served
        await stock._refill
        assert raylets.prestarts == [("a", 2, 600)]

    asyncio.run(scenario())


def test_a_full_stock_asks_the_raylets_rarely_and_counts_what_actors_took(monkeypatch):
    monkeypatch.setattr(stock_module, "MIN_LOOK_SECONDS", 0.0)
    now = [1000.0]
    monkeypatch.setattr(stock_module.time, "monotonic", lambda: now[0])

    async def scenario() -> None:
        raylets = FakeRaylets({"a": NONE})
        stock = WorkerStock(raylets, per_node=2, keep_alive=600)
        await _round(stock)  # asks 2
        now[0] += stock_module.CHECK_SECONDS  # a refill is checked soon after
        raylets.idle_now = {"a": idle(11, 12)}
        await _round(stock)
        assert raylets.looks == 2
        for _ in range(20):  # full, no poke: no look for IDLE_CHECK_SECONDS
            now[0] += 2.0
            await _round(stock)
        assert raylets.looks == 2
        now[0] += stock_module.IDLE_CHECK_SECONDS
        raylets.idle_now = {"a": idle(12)}  # an actor took 11
        await _round(stock)
        assert raylets.looks == 3
        assert stock.stats() == {
            "worker_stock_idle": 1,
            "worker_stock_prestarted": 3,
            "worker_stock_taken": 1,
            "worker_stock_looks": 3,
        }

    asyncio.run(scenario())


def _setup(instance_id: str) -> InstanceSetup:
    return InstanceSetup(
        workflow="wf",
        instance_id=instance_id,
        journal_path="",
        spec=WorkflowSpec(name="wf", class_name="m:C"),
        bindings={},
        vars={},
        hibernate_after=1.0,
        limits=DEFAULT_LIMITS,
        code_paths=(),
        namespace="test",
        supervisor_name="sup",
    )


def test_the_stock_is_read_from_the_engine_block_and_bad_values_are_refused(tmp_path):
    from pyflow_actors.config import load_config
    from pyflow_actors.errors import ConfigError

    toml = tmp_path / "pyflow.toml"
    toml.write_text('[engine]\nworker_stock = 3\nworker_stock_keep_alive = "2 minutes"\n')
    config = load_config(toml)
    assert (config.worker_stock, config.worker_stock_keep_alive) == (3, 120.0)
    default = load_config(None).worker_stock  # one per core, within the warm budget
    assert default == min(os.cpu_count() or 1, load_config(None).warm_actors) >= 1
    toml.write_text("[engine]\nworker_stock = -1\n")
    with pytest.raises(ConfigError, match="worker_stock"):
        load_config(toml)


def test_only_dedicated_actor_starts_go_through_the_stock(monkeypatch):
    from pyflow_actors.models import Placement
    from pyflow_actors.runtime.supervisor.hosts import PlacementRouter

    async def scenario() -> None:
        stock = WorkerStock(FakeRaylets({"a": NONE}), per_node=2, keep_alive=600)
        shared, dedicated = FakeBackend(), FakeBackend()
        router = PlacementRouter(
            dedicated, shared, lambda wf: Placement.SHARED if wf == "s" else Placement.DEDICATED
        )
        pool = WarmPool(router, budget=4, parallelism=2, max_lead=60, stock=stock)
        assert pool.backend is router and pool.stocked is router.dedicated
        stock._poked = False
        await pool.backend.create(replace(_setup("x"), workflow="s"))  # on a shared host
        assert pool.stocked.starting == 0 and not stock._poked
        await pool.backend.create(_setup("y"))  # a dedicated actor
        assert len(dedicated.actors_of(("wf", "y"))) == 1
        while pool.stocked.starting:
            await asyncio.sleep(0.001)
        assert stock._poked

    asyncio.run(scenario())


def test_alarms_are_warmed_early_enough_for_actor_starts_timed_to_their_first_answer():
    # Ray's create returns before the actor is up: the supervisor's own timing of a
    # cold start reads a few ms. The stock's backend times each start to the new
    # actor's first answer; the pool's leads follow it.
    async def scenario() -> None:
        stock = WorkerStock(FakeRaylets({"a": NONE}), per_node=2, keep_alive=600)
        pool = WarmPool(FakeBackend(), budget=10, parallelism=2, max_lead=60, stock=stock)
        alarm = [_row("s", InstanceStatus.WAITING, time.time() + 10)]
        assert pool.activation_cost([0.004, 0.003]) == pool.activation_seconds  # 0.5: a guess
        assert pool.plan_alarms(alarm, lambda key: False) == []  # lead 1.5 x 2.5 x 0.5
        assert pool.stocked is not None
        await pool.backend.create(_setup("x"))
        while pool.stocked.starting:
            await asyncio.sleep(0.001)
        assert len(pool.stocked.up_seconds) == 1
        pool.stocked.up_seconds.extend([3.0] * 5)  # starts of 3 s, as under load
        assert pool.activation_cost([0.004, 0.003]) == 3.0
        assert pool.plan_alarms(alarm, lambda key: False) == alarm  # lead 1.5 x 2.5 x 3

    asyncio.run(scenario())
