"""The shared placement without Ray: host pool logic, hosts and their backend.

The supervisor runs real workflows (real journals in a temp folder) on real
:class:`InstanceHost` s called in-process (tests/unit/fake_hosts.py), so
eviction, a host's death, adoption and the loop watch are exercised exactly,
in a second or so each.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from cloudflare.types.workflows import InstanceGetResponse

from pyflow_actors.client.api import AsyncClient
from pyflow_actors.client.http_transport import HttpTransport
from pyflow_actors.config import EngineConfig, TokenSpec, WorkflowSpec, load_config
from pyflow_actors.errors import ConfigError
from pyflow_actors.models import CreateOptions, InstanceStatus, Placement
from pyflow_actors.runtime.host import InstanceHost
from pyflow_actors.runtime.supervisor import Supervisor
from pyflow_actors.runtime.supervisor.hosts import (
    SHRINK_AFTER,
    HostEntry,
    HostPool,
    PlacementRouter,
    SharedHostBackend,
)
from pyflow_actors.storage.journal import DuckJournal
from service import create_app
from tests import workflows as w
from tests.fake_transport import FakeTransport
from tests.workflows import ledger_lines

from .fake_actors import FakeBackend
from .fake_hosts import InProcessHosts, echo_setup

pytestmark = pytest.mark.timeout(30)

FINAL = (InstanceStatus.COMPLETE, InstanceStatus.ERRORED, InstanceStatus.TERMINATED)


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(scenario(), 20))


async def until(predicate: Callable[[], Any], timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.005)


class Harness:
    """A supervisor whose every workflow is shared, over in-process hosts
    (one host unless ``max_hosts``, the cluster's CPUs, says more)."""

    def __init__(self, tmp_path: Path, hosts: InProcessHosts | None = None, **config: Any) -> None:
        self.hosts = hosts or InProcessHosts()
        max_hosts = config.pop("max_hosts", 1)
        self.backend = SharedHostBackend(
            "test",
            spawn=self.hosts.spawn,
            discover=self.hosts.discover,
            max_hosts=lambda: max_hosts,
            kill_host=self.hosts.kill,
            per_host=config.pop("per_host", 64),
        )
        config.setdefault("max_running", 16)
        config.setdefault("hibernate_after", 0.2)
        workflows = {"ledger": w.Ledger, "echo": w.Echo, "blocker": w.Blocker}
        self.sup = Supervisor(
            EngineConfig(
                storage=tmp_path,
                placement=Placement.SHARED,
                workflows=tuple(WorkflowSpec.of(n, c) for n, c in workflows.items()),
                **config,
            ),
            backend=self.backend,
        )

    async def create(self, workflow: str, instance_id: str, params: Any = None) -> None:
        await self.sup.start()
        await self.sup.create(workflow, [CreateOptions(id=instance_id, params=params)], False)

    def status(self, workflow: str, instance_id: str) -> InstanceStatus:
        return self.sup.table.require(workflow, instance_id).status

    async def finished(self, workflow: str, *ids: str) -> None:
        await until(lambda: all(self.status(workflow, i) in FINAL for i in ids))

    async def close(self) -> None:
        await self.hosts.close()
        self.sup.registry.close()


# -- the pool's logic ---------------------------------------------------------


def test_the_pool_places_on_the_least_loaded_host_and_grows_only_when_all_are_full():
    pool = HostPool(max_hosts=2, per_host=2)
    assert pool.choose() is None  # no host yet: grow
    a = HostEntry("a", None)
    pool.add(a)
    pool.place(pool.choose() or a, ("wf", "1"))
    assert pool.choose() is a
    pool.place(a, ("wf", "2"))
    assert pool.choose() is None  # a is full and the pool may grow
    b = HostEntry("b", None)
    pool.add(b)
    assert pool.choose() is b
    pool.place(b, ("wf", "3"))
    pool.place(b, ("wf", "4"))
    assert pool.choose() in (a, b)  # all full, but at max_hosts: the least loaded anyway
    pool.release(("wf", "1"), a)
    assert pool.choose() is a


def test_once_used_the_pool_starts_a_second_host_ahead_of_need_one_start_at_a_time():
    pool = HostPool(max_hosts=8)
    assert pool.min_hosts == 2 and pool.choose() is None  # no host yet: grow
    a = HostEntry("a", None, ready=False)
    pool.add(a)
    assert not pool.wants_host()  # a is still starting: one start at a time
    a.ready = True
    pool.place(a, ("wf", "1"))
    assert not pool.wants_host()  # a runs an instance: no worker start beside it
    pool.release(("wf", "1"), a)
    assert pool.wants_host()  # quiet: the second of the two kept once shared is used
    b = HostEntry("b", None, ready=False)
    pool.add(b)
    b.ready = True
    assert not pool.wants_host()  # two: more only when both hold GROW_AT instances
    assert HostPool(max_hosts=1).min_hosts == 1  # never more hosts than CPUs


def test_a_starting_host_takes_an_instance_only_when_no_ready_host_has_room():
    pool = HostPool(max_hosts=2, per_host=2)
    a, b = HostEntry("a", None), HostEntry("b", None, ready=False)
    pool.add(a)
    pool.add(b)
    pool.place(pool.choose() or b, ("wf", "1"))
    assert pool.choose() is a  # b is empty but its worker is not up: a has room
    pool.place(a, ("wf", "2"))
    assert pool.choose() is b  # a is full: better a starting host than none
    b.ready = True
    pool.place(b, ("wf", "3"))
    pool.release(("wf", "1"), a)
    assert pool.choose() is a  # both ready: the least loaded


def test_running_instances_spread_over_the_ready_hosts_and_more_start_when_all_hold_grow_at():
    pool = HostPool(max_hosts=3, grow_at=2)
    a, b = HostEntry("a", None), HostEntry("b", None)
    pool.add(a)
    pool.add(b)
    for n in range(4):
        pool.place(pool.choose() or a, ("wf", str(n)))
    assert len(a.placed) == len(b.placed) == 2  # least loaded first: 2 and 2, not 4 and 0
    assert pool.wants_host()  # every host holds grow_at: a third (of 3 CPUs) starts
    pool.add(HostEntry("c", None, ready=False))
    assert not pool.wants_host()
    packed = HostPool(max_hosts=2, pack_to=3)
    packed.add(a := HostEntry("a", None))
    packed.add(b := HostEntry("b", None))
    for n in range(4):
        packed.place(packed.choose() or a, ("wf", str(n)))
    assert (len(a.placed), len(b.placed)) == (3, 1)  # pack_to: up to 3 on one host first


def test_the_pool_retires_hosts_empty_for_a_while_but_keeps_the_minimum():
    pool = HostPool(max_hosts=4, min_hosts=1)
    entries = [HostEntry(name, None) for name in "abc"]
    for entry in entries:
        pool.add(entry)
    pool.place(entries[0], ("wf", "1"))
    now = time.monotonic()
    assert pool.idle(now) == []  # empty, but not for long
    idle = pool.idle(now + SHRINK_AFTER + 1)
    assert idle == [entries[1], entries[2]]
    pool.release(("wf", "1"), entries[0])
    assert len(pool.idle(now + 2 * SHRINK_AFTER + 1)) == 2  # one always stays


def test_a_dead_host_takes_no_more_instances():
    pool = HostPool(max_hosts=2)
    a, b = HostEntry("a", None), HostEntry("b", None)
    pool.add(a)
    pool.add(b)
    pool.place(a, ("wf", "1"))
    pool.lost(b)
    assert pool.choose() is a and "b" not in pool.hosts


# -- placement config and routing ------------------------------------------


def test_placement_is_read_per_workflow_with_the_engine_default(tmp_path):
    toml = tmp_path / "pyflow.toml"
    toml.write_text(
        '[engine]\nplacement = "shared"\n'
        '[[workflows]]\nname = "a"\nclass_name = "tests.workflows:Echo"\n'
        '[[workflows]]\nname = "b"\nclass_name = "tests.workflows:Echo"\nplacement = "dedicated"\n'
    )
    config = load_config(toml)
    a, b = config.workflow("a"), config.workflow("b")
    assert config.placement_of(a) == Placement.SHARED
    assert config.placement_of(b) == Placement.DEDICATED
    assert config.placement_of(WorkflowSpec.of("c", w.Echo)) == Placement.SHARED


def test_an_unknown_placement_is_a_clear_config_error(tmp_path):
    toml = tmp_path / "pyflow.toml"
    toml.write_text('[[workflows]]\nname = "a"\nclass_name = "x:Y"\nplacement = "pooled"\n')
    with pytest.raises(ConfigError, match="'pooled' of a is invalid: use 'dedicated' or 'shared'"):
        load_config(toml)
    with pytest.raises(ConfigError, match="placement 'x' of engine"):
        load_config(None, placement="x")


def test_the_router_sends_each_workflow_to_its_placement(tmp_path):
    async def scenario() -> None:
        dedicated, shared = FakeBackend(), FakeBackend()
        placements = {"echo": Placement.SHARED}
        router = PlacementRouter(
            dedicated, shared, lambda wf: placements.get(wf, Placement.DEDICATED)
        )
        sup = Supervisor(
            EngineConfig(
                storage=tmp_path,
                workflows=(WorkflowSpec.of("echo", w.Echo), WorkflowSpec.of("ledger", w.Ledger)),
            ),
            backend=router,
        )
        await sup.start()
        await sup.create("echo", [CreateOptions(id="s")], False)
        await sup.create("ledger", [CreateOptions(id="d")], False)
        await until(lambda: shared.created and dedicated.created)
        assert [a.key for a in shared.created] == [("echo", "s")]
        assert [a.key for a in dedicated.created] == [("ledger", "d")]
        assert router.find("echo", "s") is shared.created[0]
        assert router.find("ledger", "d") is dedicated.created[0]
        sup.registry.close()

    run(scenario)


# -- instances on hosts -------------------------------------------------------


def test_many_instances_run_on_one_host_and_each_is_evicted_when_it_ends(tmp_path, ledger):
    async def scenario() -> None:
        h = Harness(tmp_path)
        ids = [f"i{n}" for n in range(12)]
        for instance_id in ids:
            await h.create("ledger", instance_id, {"ledger": ledger, "steps": 2})
        await h.finished("ledger", *ids)
        assert {h.status("ledger", i) for i in ids} == {InstanceStatus.COMPLETE}
        assert len(h.hosts.hosts) == 1  # a call each, no process start
        await until(lambda: h.hosts.hosts[0].host.keys() == [])
        detail = await h.sup.describe("ledger", "i0")
        assert detail.placement == Placement.SHARED
        assert [s.name for s in detail.steps] == ["step-0", "step-1"]
        await h.close()

    run(scenario)


def test_a_second_host_starts_ahead_of_need_and_the_running_instances_spread_over_both(
    tmp_path, ledger
):
    async def scenario() -> None:
        h = Harness(tmp_path, max_hosts=2)
        await h.create("ledger", "first", {"ledger": ledger, "steps": 1})
        await h.finished("ledger", "first")
        await until(
            lambda: len(h.backend.pool.hosts) == 2
        )  # once the first answered, nothing running
        await until(lambda: all(e.ready for e in h.backend.pool.hosts.values()))
        ids = [f"i{n}" for n in range(6)]
        for instance_id in ids:
            await h.create(
                "ledger", instance_id, {"ledger": ledger, "steps": 2, "step_seconds": 0.3}
            )
        await until(lambda: sum(len(host.host.keys()) for host in h.hosts.hosts) == 6)
        assert sorted(len(host.host.keys()) for host in h.hosts.hosts) == [3, 3]
        await h.finished("ledger", *ids)
        assert len(h.hosts.hosts) == 2 and not h.hosts.killed  # the two stay, empty
        await h.close()

    run(scenario)


def test_the_pool_grows_past_full_hosts_and_stops_those_beyond_two_left_empty(tmp_path, ledger):
    async def scenario() -> None:
        h = Harness(tmp_path, per_host=1, max_hosts=3)
        ids = ["a", "b", "c"]
        for instance_id in ids:
            await h.create(
                "ledger", instance_id, {"ledger": ledger, "steps": 1, "step_seconds": 0.3}
            )
        await h.finished("ledger", *ids)
        assert len(h.hosts.hosts) == 3  # each host was full when the next came
        await until(lambda: not any(host.host.keys() for host in h.hosts.hosts))
        h.backend.retire_idle(time.monotonic() + SHRINK_AFTER + 1)
        assert len(h.hosts.killed) == 1  # two always stay once shared is used
        assert len(h.backend.pool.hosts) == 2
        await h.create("echo", "d", 3)  # placed on a host that stayed
        await h.finished("echo", "d")
        assert len(h.hosts.hosts) == 3
        await h.close()

    run(scenario)


def test_a_hibernating_instance_is_evicted_and_an_event_wakes_it_without_rerunning_steps(
    tmp_path, ledger
):
    async def scenario() -> None:
        h = Harness(tmp_path)
        await h.create("ledger", "w", {"ledger": ledger, "steps": 2, "wait_for": "go"})
        await until(lambda: h.status("ledger", "w") == InstanceStatus.WAITING)
        host = h.hosts.hosts[0].host
        await until(lambda: host.keys() == [])  # evicted: journal closed, runner gone
        await h.sup.send_event("ledger", "w", "go", {"add": 10})
        await h.finished("ledger", "w")
        status = await h.sup.status("ledger", "w")
        assert status.status == InstanceStatus.COMPLETE and status.output == 11
        assert ledger_lines(ledger) == ["w step-0", "w step-1"]  # step-0 ran once
        assert len(h.hosts.hosts) == 1
        await h.close()

    run(scenario)


def test_the_instances_of_a_dead_host_continue_elsewhere_without_rerunning_committed_steps(
    tmp_path, ledger
):
    async def scenario() -> None:
        h = Harness(tmp_path)
        ids = ["a", "b", "c"]
        for instance_id in ids:
            params = {"ledger": ledger, "steps": 3, "step_seconds": 0.3}
            await h.create("ledger", instance_id, params)

        def reached_step_1() -> bool:
            lines = ledger_lines(ledger)
            return all(f"{i} step-1" in lines for i in ids)  # so step-0 is committed

        await until(reached_step_1)
        first = h.hosts.hosts[0]
        await first.die()
        await h.finished("ledger", *ids)
        lines = ledger_lines(ledger)
        for instance_id in ids:
            assert h.status("ledger", instance_id) == InstanceStatus.COMPLETE
            assert lines.count(f"{instance_id} step-0") == 1
            assert lines.count(f"{instance_id} step-2") == 1
        assert len(h.hosts.hosts) == 2 and h.hosts.hosts[1] is not first
        await h.close()

    run(scenario)


def test_a_restarted_supervisor_adopts_the_instances_its_hosts_still_run(tmp_path, ledger):
    async def scenario() -> None:
        old = Harness(tmp_path)
        params = {"ledger": ledger, "steps": 2, "step_seconds": 0.4}
        await old.create("ledger", "kept", params)
        await until(lambda: "kept step-0" in ledger_lines(ledger))
        for task in old.sup._background:
            task.cancel()
        for live in old.sup.actors.live.values():
            assert live.monitor is not None
            live.monitor.cancel()
        old.sup.registry.close()  # the old supervisor is gone; its host lives on

        new = Harness(tmp_path, hosts=old.hosts)
        await new.sup.start()
        assert ("ledger", "kept") in new.sup.actors.live  # adopted, not requeued
        await new.finished("ledger", "kept")
        assert new.status("ledger", "kept") == InstanceStatus.COMPLETE
        assert ledger_lines(ledger) == ["kept step-0", "kept step-1"]
        assert len(old.hosts.hosts) == 1
        await new.close()

    run(scenario)


def test_what_a_surviving_host_holds_but_nobody_adopts_is_evicted(tmp_path, ledger):
    async def scenario() -> None:
        old = Harness(tmp_path)
        params = {"ledger": ledger, "steps": 2, "step_seconds": 0.4}
        await old.create("ledger", "orphan", params)
        await until(lambda: "orphan step-0" in ledger_lines(ledger))
        for task in old.sup._background:
            task.cancel()
        for live in old.sup.actors.live.values():
            assert live.monitor is not None
            live.monitor.cancel()
        old.sup.registry.close()
        # The new supervisor's registry no longer has it running (say it was
        # terminated meanwhile): nobody adopts it, so its host must let it go.
        new = Harness(tmp_path, hosts=old.hosts)
        row = new.sup.table.require("ledger", "orphan")
        row.status = InstanceStatus.TERMINATED
        await new.sup.start()
        _ = new.backend.pool  # the first use discovers the surviving host
        await until(lambda: old.hosts.hosts[0].host.keys() == [])
        await new.close()

    run(scenario)


# -- the loop watch -----------------------------------------------------------


def test_an_async_step_that_blocks_the_loop_is_reported_as_the_culprit(tmp_path):
    async def scenario() -> None:
        h = Harness(tmp_path)
        await h.create("echo", "neighbour", {"x": 1})
        await h.create("blocker", "hog", {"seconds": 0.6})
        await h.finished("blocker", "hog")
        await h.finished("echo", "neighbour")
        load = h.hosts.hosts[0].host.load()
        culprits = [s for s in load.stalls if s.instance == ("blocker", "hog")]
        assert culprits, load.stalls
        assert culprits[0].seconds >= 0.4 and "block (workflows.py" in culprits[0].where
        assert load.lag >= 0.4
        await h.close()

    run(scenario)


def test_sync_steps_run_in_threads_so_they_block_neither_the_loop_nor_each_other(tmp_path):
    async def scenario() -> None:
        h = Harness(tmp_path)
        await h.sup.start()
        ids = [f"s{n}" for n in range(8)]
        for instance_id in ids:
            await h.create("blocker", instance_id, {"seconds": 0.5, "sync": True})
        await h.finished("blocker", *ids)
        assert {h.status("blocker", i) for i in ids} == {InstanceStatus.COMPLETE}
        # In parallel, not one after another: the steps' run times overlap.
        spans = []
        for instance_id in ids:
            detail = await h.sup.describe("blocker", instance_id)
            spans += [(s.start, s.end) for s in detail.steps if s.end is not None]
        spans.sort()
        assert any(b[0] < a[1] for a, b in zip(spans, spans[1:], strict=False)), spans
        stalls = h.hosts.hosts[0].host.load().stalls
        assert not [s for s in stalls if s.where.startswith("block (")], stalls
        await h.close()

    run(scenario)


# -- placement on the surface -------------------------------------------------


def test_rest_and_http_transport_show_an_instance_s_placement():
    fake = FakeTransport(("hello",))
    fake.placements["hello"] = Placement.SHARED
    token, account = "unit-token", "acme"
    app = create_app(AsyncClient(fake), EngineConfig(), tokens=(TokenSpec(token, (account,)),))

    async def scenario() -> None:
        asgi = httpx.ASGITransport(app)
        transport = HttpTransport("http://gw", token=token, account=account, transport=asgi)
        instance = await AsyncClient(transport).workflow("hello").create(id="p")
        fake.set_status("hello", "p", "complete", output="done")
        detail = await instance.describe()
        assert detail.placement == Placement.SHARED
        async with httpx.AsyncClient(transport=asgi, base_url="http://gw") as http:
            url = f"/client/v4/accounts/{account}/workflows/hello/instances/p"
            got = (await http.get(url, headers={"Authorization": f"Bearer {token}"})).json()
        InstanceGetResponse.model_validate(got["result"])  # still Cloudflare's shape
        assert got["result"]["placement"] == "shared"
        fake.placements.clear()
        assert (await instance.describe()).placement == Placement.DEDICATED

    run(scenario)


def test_an_instance_evicted_while_its_journal_opens_lets_go_of_the_file(tmp_path):
    async def scenario() -> None:
        host = InstanceHost("h")
        setup = echo_setup(tmp_path)
        path = Path(setup.journal_path)
        await host.place(setup, "first")  # starts opening the journal at once
        runner = host._runners[("echo", "e")]
        assert await host.evict(("echo", "e"), "first")
        await until(lambda: runner._prepared is not None and runner._prepared.done())
        await asyncio.gather(*host._refilling.values())  # empty journals made ahead, closed
        rows = host._database.execute("SELECT database_name FROM duckdb_databases()")
        assert not [name for (name,) in rows.fetchall() if name.startswith("j_")]
        DuckJournal(path).close()  # nobody holds the file any more
        assert host.keys() == []
        await host.close()

    run(scenario)
