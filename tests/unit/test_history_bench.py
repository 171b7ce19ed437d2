"""The disk-per-finished-instance benchmark measures a real fold, and the table shows it."""

from __future__ import annotations

from benchmarks import history_bench
from benchmarks.sizes import QUICK
from benchmarks.table import rows


def test_the_history_benchmark_folds_every_journal_and_reports_its_figures(tmp_path):
    records: list[dict] = []
    history_bench.run(3, tmp_path, records)
    assert [r["steps"] for r in records] == [1, 3]
    for record in records:
        assert record["journal_disk_bytes_per_instance"] > 0
        assert record["leftover_journal_bytes_per_instance"] == 0
        assert (
            record["finished_disk_bytes_per_instance"] == record["history_disk_bytes_per_instance"]
        )
        assert record["fold_ms_per_instance"] > 0
    shown = [r for r in rows(records, QUICK) if r["workload"] == "disk per finished instance"]
    assert len(shown) == 6 and all(r["pyflow"] is not None for r in shown)
