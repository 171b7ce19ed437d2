"""The analytics store over real journals written by the real replay engine:
exact counts, crash-safe re-runs, instances still in progress, retention, queries."""

from __future__ import annotations

import asyncio
import datetime as dt
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from pyflow_actors import WorkflowEntrypoint
from pyflow_actors.analytics import AnalyticsQuery, Condition, EventType, Order
from pyflow_actors.analytics.store import AnalyticsStore
from pyflow_actors.config import load_config
from pyflow_actors.engine import Execution
from pyflow_actors.entrypoint import WorkflowEvent
from pyflow_actors.errors import InvalidAnalyticsQuery
from pyflow_actors.storage.journal import DuckJournal, journal_path
from pyflow_actors.storage.registry import InstanceRow
from tests.analytics_workload import EXPECTED, Row, build_workload

DAY = 86400.0


@pytest.fixture(scope="module")
def workload(tmp_path_factory) -> tuple[Path, list[Row]]:
    root = tmp_path_factory.mktemp("analytics")
    return root, build_workload(root)


def counts(store: AnalyticsStore, *filters: Condition) -> dict[str, int]:
    result = store.query(
        AnalyticsQuery(
            dataset="workflowsAdaptiveGroups",
            dimensions=["eventType"],
            filters=list(filters),
            limit=100,
        )
    )
    return {row["eventType"]: row["count"] for row in result.rows}


def fresh_store(workload, tmp_path) -> AnalyticsStore:
    """A new, empty store over the shared journals."""
    root, _ = workload
    return AnalyticsStore(root, path=tmp_path / "analytics.duckdb")


def test_every_event_type_is_counted_exactly_from_real_journals(workload, tmp_path):
    _, rows = workload
    store = fresh_store(workload, tmp_path)
    report = store.ingest(rows)
    assert (report.read, report.added, report.busy) == (4, sum(EXPECTED.values()), 0)
    assert counts(store) == EXPECTED
    # Rollback events: the workload rolls nothing back (tests/unit/test_rollback.py has them).
    assert set(counts(store)) == {e.value for e in EventType if not e.value.startswith("ROLLBACK")}
    store.close()


def test_a_second_pass_counts_nothing_twice_and_skips_final_instances(workload, tmp_path):
    _, rows = workload
    store = fresh_store(workload, tmp_path)
    store.ingest(rows)
    again = store.ingest(rows)
    assert (again.read, again.added, again.done_before) == (0, 0, 4)
    assert counts(store) == EXPECTED
    store.close()


def test_a_kill_9_in_the_middle_of_an_ingest_loses_nothing_and_counts_nothing_twice(
    workload, tmp_path
):
    root, rows = workload
    path = tmp_path / "analytics.duckdb"
    # A child process ingests the first instance (a pass of its own), then the rest,
    # and dies (os._exit, no cleanup) inside that second pass's transaction, after
    # its events were inserted, before the commit.
    script = textwrap.dedent(
        f"""
        import os, sys
        sys.path.insert(0, {str(Path.cwd())!r})
        from pathlib import Path
        from pyflow_actors.analytics.store import AnalyticsStore
        from tests.analytics_workload import Row
        rows = [Row(**r) for r in {[vars(r) for r in rows]!r}]
        store = AnalyticsStore(Path({str(root)!r}), path=Path({str(path)!r}))
        execute, seen = store._db.execute, []
        def dying(sql, params=None):
            if sql.startswith("INSERT OR REPLACE INTO watermarks"):
                seen.append(1)
                if len(seen) == 2:
                    os._exit(9)
            return execute(sql, params)
        store._db.execute = dying
        store.ingest(rows[:1])
        store.ingest(rows)
        """
    )
    done = subprocess.run([sys.executable, "-c", script], timeout=120, capture_output=True)
    assert done.returncode == 9, done.stderr.decode()
    store = AnalyticsStore(root, path=path)
    first = counts(store)
    assert sum(first.values()) < sum(EXPECTED.values())  # only the first instance got in
    report = store.ingest(rows)
    assert report.done_before == 1 and report.read == 3
    assert counts(store) == EXPECTED
    store.close()


class Napper(WorkflowEntrypoint):
    async def run(self, event, step):
        await step.do("before")(lambda: 1)
        await step.sleep("long nap", 0.3)  # longer than hibernate_after: hibernates
        return await step.do("after")(lambda: 2)


def test_an_instance_in_progress_is_read_again_until_final(tmp_path):
    path = journal_path(tmp_path, "nap", "n1")
    created = time.time()

    def run_once():
        async def go():
            with DuckJournal(path) as journal:
                journal.set_meta(workflow="nap", instance_id="n1", created_at=created, generation=1)
                journal.set_meta(started_at=created)
                event = WorkflowEvent(None, dt.datetime.now(dt.timezone.utc), "n1", "nap")
                return await Execution(Napper(), event, journal, hibernate_after=0.1).run()

        return asyncio.run(go())

    store = AnalyticsStore(tmp_path)
    assert run_once().kind == "hibernate"
    waiting = Row("nap", "n1", "waiting", created, started_at=created)
    store.ingest([waiting])
    assert counts(store) == {"WORKFLOW_QUEUED": 1, "WORKFLOW_START": 1, "STEP_START": 1,
                             "ATTEMPT_START": 1, "ATTEMPT_SUCCESS": 1, "STEP_SUCCESS": 1,
                             "SLEEP_START": 1}  # fmt: skip
    store.ingest([waiting])  # nothing new yet: nothing added
    assert sum(counts(store).values()) == 7
    time.sleep(0.35)
    assert run_once().kind == "complete"
    done = Row("nap", "n1", "complete", created, started_at=created, ended_at=time.time())
    report = store.ingest([done])
    # Sleep complete, the second step (start, attempt start/success, success), the end.
    assert report.added == 6
    final = counts(store)
    assert final["SLEEP_COMPLETE"] == 1 and final["STEP_SUCCESS"] == 2
    assert final["WORKFLOW_SUCCESS"] == 1
    store.close()


def test_events_older_than_the_retention_are_dropped_and_not_ingested_again(workload, tmp_path):
    _, rows = workload
    store = fresh_store(workload, tmp_path)
    store.retention = 31 * DAY
    store.ingest(rows)
    assert store.purge(now=time.time() + 30 * DAY) == 0
    assert counts(store) == EXPECTED
    later = time.time() + 32 * DAY
    assert store.purge(now=later) == sum(EXPECTED.values())
    assert counts(store) == {}
    report = store.ingest(rows, now=later)  # the journals are still there, the events too old
    assert report.added == 0 and counts(store) == {}
    store.close()


def test_analytics_retention_is_configurable_in_pyflow_toml(tmp_path):
    file = tmp_path / "pyflow.toml"
    file.write_text('[engine]\nanalytics_retention = "7 days"\n')
    assert load_config(file).analytics_retention == 7 * DAY
    assert load_config().analytics_retention == 31 * DAY


def test_group_filters_order_and_aggregates(workload, tmp_path):
    _, rows = workload
    store = fresh_store(workload, tmp_path)
    store.ingest(rows)
    step_ends = Condition(field="eventType", op="in", value=["STEP_SUCCESS", "STEP_FAILURE"])
    result = store.query(
        AnalyticsQuery(
            dataset="workflowsAdaptiveGroups",
            dimensions=["stepName"],
            filters=[step_ends],
            order_by=[Order(field="count", direction="DESC")],
            limit=10,
        )
    )
    assert [(r["stepName"], r["count"]) for r in result.rows] == [("charge", 3), ("ship", 2)]
    charge = result.rows[0]
    assert charge["sum_wallTime"] >= charge["max_wallTime"] >= charge["min_wallTime"] >= 0
    assert charge["wallTimeP50"] is not None
    only_bad = counts(store, Condition(field="instanceId", value="bad-1"))
    assert only_bad["WORKFLOW_FAILURE"] == 1 and "WORKFLOW_SUCCESS" not in only_bad
    future = Condition(field="datetimeHour", op="gt", value="2999-01-01T00:00:00Z")
    assert counts(store, future) == {}
    not_queued = Condition(field="eventType", op="notin", value=["WORKFLOW_QUEUED"])
    assert "WORKFLOW_QUEUED" not in counts(store, not_queued)
    store.close()


def test_raw_rows_carry_every_dimension_in_time_order(workload, tmp_path):
    _, rows = workload
    store = fresh_store(workload, tmp_path)
    store.ingest(rows)
    result = store.query(
        AnalyticsQuery(
            dataset="workflowsAdaptive",
            filters=[Condition(field="instanceId", value="ok-1")],
            order_by=[Order(field="datetime", direction="ASC")],
            limit=100,
        )
    )
    assert len(result.rows) == 15
    assert result.rows[0]["eventType"] == "WORKFLOW_QUEUED"
    assert result.rows[-1]["eventType"] == "WORKFLOW_SUCCESS"
    first = result.rows[0]
    assert first["datetime"].endswith("Z") and first["datetimeHour"].endswith(":00:00Z")
    assert first["date"] == first["datetime"][:10]
    assert [r["datetime"] for r in result.rows] == sorted(r["datetime"] for r in result.rows)
    store.close()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"dimensions": ["colour"]}, "unknown dimension"),
        ({"filters": [{"field": "colour", "value": "x"}]}, "unknown filter field"),
        ({"filters": [{"field": "datetime", "op": "geq", "value": "yesterday"}]}, "not a time"),
        ({"filters": [{"field": "stepCount", "value": "3"}]}, "whole number"),
        ({"order_by": [{"field": "datetimeHour"}]}, "select dimensions"),
        ({"limit": 0}, "limit must be"),
    ],
)
def test_bad_queries_are_clear_validation_errors(kwargs, message):
    with pytest.raises(InvalidAnalyticsQuery, match=message):
        AnalyticsQuery(dataset="workflowsAdaptiveGroups", **kwargs)


def test_step_summary_feeds_the_prometheus_histograms(workload, tmp_path):
    _, rows = workload
    store = fresh_store(workload, tmp_path)
    store.ingest(rows)
    summary = store.step_summary()
    assert summary.attempts == {"shop": {"success": 4, "failure": 3}}
    histogram = summary.durations["shop"]
    assert histogram.count == 5 and histogram.buckets[-1][1] == 5
    store.close()


def test_registry_rows_are_ingested_as_they_are(workload, tmp_path):
    """The supervisor hands its InstanceRow objects over unchanged."""
    _, rows = workload
    store = fresh_store(workload, tmp_path)
    registry_rows = [
        InstanceRow(
            r.workflow,
            r.id,
            r.status,
            None,
            r.created_at,
            started_at=r.started_at,
            ended_at=r.ended_at,
        )  # fmt: skip
        for r in rows
    ]
    store.ingest(registry_rows)
    assert counts(store) == EXPECTED
    store.close()


def test_instances_folded_into_the_history_store_before_ingest_lose_no_event(workload, tmp_path):
    import shutil

    from pyflow_actors.models import FINAL_STATUSES, InstanceStatus
    from pyflow_actors.storage.history import HistoryStore

    root, rows = workload
    copy = tmp_path / "storage"
    shutil.copytree(root, copy)
    final = [
        InstanceRow(r.workflow, r.id, InstanceStatus(r.status), None, r.created_at,
                    started_at=r.started_at, ended_at=r.ended_at, generation=r.generation)
        for r in rows
        if r.status in FINAL_STATUSES
    ]  # fmt: skip
    assert len(HistoryStore(copy).fold(final).folded) == len(final) > 0
    assert not any(journal_path(copy, r.workflow, r.id).exists() for r in final)
    store = AnalyticsStore(copy, path=tmp_path / "analytics.duckdb")
    report = store.ingest(rows)
    assert (report.read, report.added) == (4, sum(EXPECTED.values()))
    assert counts(store) == EXPECTED
    assert store.ingest(rows).added == 0  # and a second pass adds nothing
    store.close()


def test_a_just_finished_instance_waits_for_its_fold_then_is_read_from_the_store(tmp_path):
    from benchmarks.history_bench import finish_instance
    from pyflow_actors.storage.history import history_store

    rows = [finish_instance(tmp_path, 1) for _ in range(3)]
    store = AnalyticsStore(tmp_path)
    waiting = store.ingest(rows, fold_wait=60.0)  # ended just now, journals on disk
    assert (waiting.read, waiting.awaiting_fold, waiting.added) == (0, 3, 0)
    assert len(waiting.busy_keys) == 3  # the service reads them on a later pass
    history_store(tmp_path).fold(rows)  # the supervisor's fold: journal files removed
    assert not any(journal_path(tmp_path, r.workflow, r.id).exists() for r in rows)
    folded = store.ingest(rows, fold_wait=60.0)
    assert (folded.read, folded.awaiting_fold) == (3, 0) and folded.added > 0
    old = store.ingest(rows, now=time.time() + 120.0, fold_wait=60.0)  # folded long ago
    assert (old.read, old.done_before) == (0, 3)
    store.close()
