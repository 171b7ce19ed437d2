"""A shared instance's activation is one call to its host (issue 17's speed targets).

The first run of a placement takes the instance's setup to the host with it
(``run_placed``), and the host lets go of the instance when that run ends, so
a 1-step instance costs the supervisor one host call, not three (place, run,
evict). A call that overtakes its ``run_placed`` on the host (Ray does not
order an async actor's calls) waits for the placement (``when_placed``).
"""

from __future__ import annotations

import asyncio

import pytest

from pyflow_actors.errors import InstanceActorGone
from pyflow_actors.models import InstanceStatus
from pyflow_actors.runtime.host import InstanceHost
from pyflow_actors.runtime.protocol import RunRequest
from pyflow_actors.runtime.supervisor.hosts import SharedHostBackend
from pyflow_actors.storage import history as history_module
from pyflow_actors.storage.journal import journal_path
from tests.workflows import ledger_lines

from .fake_hosts import InProcessHosts, echo_setup
from .test_shared_hosts import Harness, run, until

pytestmark = pytest.mark.timeout(30)

KEY = ("echo", "e")


def test_a_new_shared_instance_is_placed_and_run_in_one_host_call_and_let_go_by_its_host(
    tmp_path, ledger
):
    async def scenario() -> None:
        h = Harness(tmp_path)
        await h.create("ledger", "one", {"ledger": ledger, "steps": 1})
        await h.finished("ledger", "one")
        assert h.status("ledger", "one") == InstanceStatus.COMPLETE
        host = h.hosts.hosts[0]
        await until(lambda: host.host.keys() == [])  # the host let go of it by itself
        assert host.calls.count("warm") == 1  # the pool's first call to a new host, once
        assert [call for call in host.calls if call != "warm"] == ["run_placed"]
        assert h.backend.pool.hosts[host.name].placed == set()
        await h.close()

    run(scenario)


def test_an_event_sent_while_the_run_is_on_its_way_reaches_the_instance(tmp_path, ledger):
    async def scenario() -> None:
        h = Harness(tmp_path)
        params = {"ledger": ledger, "steps": 1, "wait_for": "go"}
        await h.create("ledger", "w", params)
        await h.sup.send_event("ledger", "w", "go", {"add": 10})  # before the run reached it
        await h.finished("ledger", "w")
        status = await h.sup.status("ledger", "w")
        assert status.status == InstanceStatus.COMPLETE and status.output == 10  # got it
        assert ledger_lines(ledger) == ["w step-0"]
        await h.close()

    run(scenario)


def test_a_call_that_overtakes_its_placement_waits_for_it_on_the_host(tmp_path):
    async def scenario() -> None:
        host = InstanceHost("h")
        waiting = asyncio.ensure_future(host.when_placed(KEY, "t1"))
        await asyncio.sleep(0.05)
        assert not waiting.done()  # the placement has not come yet
        running = asyncio.ensure_future(
            host.run_placed(echo_setup(tmp_path), "t1", RunRequest(1, '"hi"', 1.0))
        )
        await asyncio.wait_for(waiting, 5)  # it came: the call goes on
        outcome = await running
        assert outcome.output is not None and '"hi"' in outcome.output
        with pytest.raises(InstanceActorGone):  # that placement came and left: no wait
            await asyncio.wait_for(host.when_placed(KEY, "t1"), 1)
        await host.close()

    asyncio.run(asyncio.wait_for(scenario(), 20))


def test_a_handle_killed_before_its_run_was_sent_makes_no_host_call(tmp_path):
    async def scenario() -> None:
        hosts = InProcessHosts()
        backend = SharedHostBackend(
            "test", spawn=hosts.spawn, discover=hosts.discover, max_hosts=lambda: 1,
            kill_host=hosts.kill,
        )  # fmt: skip
        handle = await backend.create(echo_setup(tmp_path))
        handle.kill()
        await asyncio.sleep(0.05)
        assert hosts.hosts[0].calls in ([], ["warm"])  # the instance was never sent
        assert hosts.hosts[0].host.keys() == []
        assert KEY not in backend.pool.where
        await hosts.close()

    asyncio.run(asyncio.wait_for(scenario(), 20))


def test_a_finished_instance_is_folded_from_the_copy_its_host_sent_without_reading_its_file(
    tmp_path, ledger, monkeypatch
):
    def unread(*args: object) -> None:
        raise AssertionError("the fold read the journal file")

    async def scenario() -> None:
        monkeypatch.setattr(history_module, "_copy_of", unread)
        h = Harness(tmp_path)
        await h.create("ledger", "done", {"ledger": ledger, "steps": 2})
        await h.finished("ledger", "done")
        await until(lambda: ("ledger", "done") in h.sup.history.folded)  # in the background
        assert not h.sup.history.unreadable
        assert not journal_path(tmp_path, "ledger", "done").exists()
        detail = await h.sup.describe("ledger", "done")  # read back from the store
        assert [(s.name, len(s.attempts)) for s in detail.steps] == [("step-0", 1), ("step-1", 1)]
        await h.close()

    run(scenario)
