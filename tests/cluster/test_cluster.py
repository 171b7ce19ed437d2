"""Distributed mode on a 3-node Ray (``ray.cluster_utils.Cluster`` on this machine).

The scenario runs in a subprocess (``python -m benchmarks.cluster_bench check``):
this pytest process may already have the session's local Ray initialised,
and a process holds one Ray connection.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def cluster_run(tmp_path_factory) -> dict:
    storage = tmp_path_factory.mktemp("cluster") / "storage"
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env["PYTHONPATH"] = str(REPO_ROOT)
    process = subprocess.run(
        [sys.executable, "-m", "benchmarks.cluster_bench", "check", str(storage)],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=170,
    )
    assert process.returncode == 0, process.stderr[-4000:]
    lines = [line for line in process.stdout.splitlines() if line.startswith("{")]
    assert lines, process.stdout[-2000:] + process.stderr[-2000:]
    return json.loads(lines[-1])


@pytest.mark.timeout(180)
def test_supervisor_is_pinned_to_the_head_node(cluster_run):
    assert cluster_run["supervisor_node"] == cluster_run["head_node"]


@pytest.mark.timeout(180)
def test_instances_spread_over_the_nodes(cluster_run):
    assert cluster_run["nodes_used"] >= 2


@pytest.mark.timeout(180)
def test_hibernated_instance_rehydrates_on_another_node_when_its_node_is_gone(cluster_run):
    moved = cluster_run["moved"]
    assert moved, "no instance had hibernated on the removed node"
    for before, after in moved.values():
        assert before == cluster_run["removed_node"]
        assert after != before


@pytest.mark.timeout(180)
def test_pyflow_dev_joins_the_cluster_and_serves_it(cluster_run):
    gateway = cluster_run["gateway"]
    assert "noop" in gateway["workflows"] and "where" in gateway["workflows"]
    assert gateway["instance_status"] == "complete"
