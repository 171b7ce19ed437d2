"""The short chaos soak in the test suite: every kind of fault, then the checker.

Runs ``python -m benchmarks.chaos`` (``make chaos-quick`` with a fixed seed)
in a subprocess of its own (the soak starts and kills its own multi-node Ray,
gateway and small filesystem), and asserts on its figures.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.faults.conftest import ROOT, record_figures

pytestmark = [pytest.mark.ray, pytest.mark.slow, pytest.mark.timeout(900)]

SEED, MINUTES = 15, 2


def test_chaos_quick_loses_nothing_and_duplicates_nothing_under_every_kind_of_fault(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_", "PYFLOW_"))}
    env["PYTHONPATH"] = str(ROOT)
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.chaos", "--minutes", str(MINUTES)]
        + ["--seed", str(SEED), "--name", "chaos-quick-test", "--results", str(tmp_path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=840,
    )
    written = tmp_path / "chaos-quick-test.json"
    assert written.exists(), (
        f"the soak wrote no figures (exit {done.returncode}): {done.stderr[-3000:]}"
    )
    figures = json.loads(written.read_text())
    record_figures(
        "chaos soak (quick)",
        kills=figures["kills_total"],
        instances=figures["instances"],
        lost=figures["lost"],
        duplicated=figures["duplicated"],
    )
    assert done.returncode == 0, (figures["problems"], done.stderr[-3000:])
    assert figures["lost"] == figures["duplicated"] == figures["repeated"] == 0
    assert figures["server_errors"] == 0
    assert figures["instances"] > 0 and figures["steps_run"] > 0
    assert figures["kills_total"] >= 5, figures["faults"]
    assert figures["kinds_never_made"] == [], figures["faults"]  # every kind, at least once
