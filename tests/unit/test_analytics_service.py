"""The analytics service reads only what changed: a queued or hibernated
instance whose row and journal are as they were is not read again on the next
pass (each pass used to re-read every one, after every run end)."""

from __future__ import annotations

import asyncio
import datetime as dt
import subprocess
import sys
import time

from pyflow_actors import WorkflowEntrypoint
from pyflow_actors.analytics.service import AnalyticsService
from pyflow_actors.engine import Execution
from pyflow_actors.entrypoint import WorkflowEvent
from pyflow_actors.storage.journal import DuckJournal, journal_path
from tests.analytics_workload import Row

HOLD = "import duckdb, sys; c = duckdb.connect(sys.argv[1]); print('open', flush=True); sys.stdin.read()"


class TwoNaps(WorkflowEntrypoint):
    async def run(self, event, step):
        await step.do("first")(lambda: 1)
        await step.sleep("nap", 0.2)  # longer than hibernate_after: hibernates
        await step.do("second")(lambda: 2)
        await step.sleep("another nap", 0.2)
        return 3


def run_until_hibernated(path, created: float) -> str:
    async def go() -> str:
        with DuckJournal(path) as journal:
            journal.set_meta(workflow="nap", instance_id="n1", created_at=created, generation=1)
            event = WorkflowEvent(None, dt.datetime.now(dt.timezone.utc), "n1", "nap")
            outcome = await Execution(TwoNaps(), event, journal, hibernate_after=0.05).run()
            return str(outcome.kind)

    return asyncio.run(go())


def test_a_pass_reads_only_rows_whose_registry_fields_or_journal_changed(tmp_path):
    created = time.time()
    service = AnalyticsService(tmp_path)
    queued = Row("nap", "q1", "queued", created)  # no journal yet
    sleeping = Row("nap", "n1", "waiting", created, started_at=created)
    path = journal_path(tmp_path, "nap", "n1")
    assert run_until_hibernated(path, created) == "hibernate"

    first = asyncio.run(service.ingest([queued, sleeping], whole_table=True))
    assert first.read == 2 and first.added > 0
    again = asyncio.run(service.ingest([queued, sleeping], whole_table=True))
    assert again.read == 0 and again.added == 0  # nothing changed: nothing read

    time.sleep(0.25)  # the nap is over: the instance runs its next step and naps again
    assert run_until_hibernated(path, created) == "hibernate"
    woken = asyncio.run(service.ingest([queued, sleeping], whole_table=True))
    assert woken.read == 1 and woken.added > 0  # same row, new journal content

    admitted = Row("nap", "q1", "running", created, started_at=time.time())
    moved = asyncio.run(service.ingest([admitted, sleeping], whole_table=True))
    assert moved.read == 1  # its row changed
    service.close()


def test_a_journal_held_by_its_actor_is_read_again_on_the_next_pass(tmp_path):
    created = time.time()
    service = AnalyticsService(tmp_path)
    path = journal_path(tmp_path, "nap", "n1")
    assert run_until_hibernated(path, created) == "hibernate"
    sleeping = Row("nap", "n1", "waiting", created, started_at=created)
    holder = subprocess.Popen(  # an actor (another process) still has it open
        [sys.executable, "-c", HOLD, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == b"open"
        busy = asyncio.run(service.ingest([sleeping], whole_table=True))
    finally:
        holder.communicate(timeout=30)
    assert busy.busy == 1 and busy.added == 0
    later = asyncio.run(service.ingest([sleeping], whole_table=True))
    assert later.read == 1 and later.added > 0
    service.close()


def test_a_finished_instance_whose_journal_was_folded_is_not_looked_up_on_disk_again(
    tmp_path, monkeypatch
):
    now = time.time()
    service = AnalyticsService(tmp_path)
    done = Row("nap", "d1", "complete", now - 60, started_at=now - 59, ended_at=now - 58)
    first = asyncio.run(service.ingest([done], whole_table=True))  # no journal: folded
    assert first.read == 1
    looked_up: list[object] = []
    stat = type(tmp_path).stat
    monkeypatch.setattr(type(tmp_path), "stat", lambda p, **k: looked_up.append(p) or stat(p, **k))
    again = asyncio.run(service.ingest([done], whole_table=True))
    assert again.read == 0 and looked_up == []  # one stat() per finished row per pass, before
    restarted = Row("nap", "d1", "queued", now, generation=2)  # a restart changes the row
    asyncio.run(service.ingest([restarted], whole_table=True))
    assert looked_up  # its journal may be back: looked at again


def test_a_woken_row_turned_queued_with_its_journal_unchanged_is_not_read_again(tmp_path):
    """An alarm turns a waiting row queued: no event comes of that until it ends,
    and its journal is the one read already (1,000 alarms due at once re-opened
    1,000 journals in one pass, the ones their woken actors were about to open)."""
    created = time.time()
    service = AnalyticsService(tmp_path)
    path = journal_path(tmp_path, "nap", "n1")
    assert run_until_hibernated(path, created) == "hibernate"
    sleeping = Row("nap", "n1", "waiting", created, started_at=created)
    assert asyncio.run(service.ingest([sleeping], whole_table=True)).read == 1

    woken = Row("nap", "n1", "queued", created, started_at=created)
    assert asyncio.run(service.ingest([woken], whole_table=True)).read == 0

    ended = Row("nap", "n1", "complete", created, started_at=created, ended_at=time.time())
    assert asyncio.run(service.ingest([ended], whole_table=True)).read == 1  # a final status
    service.close()
