"""Fault injection: shared helpers, the gateway over the session's engine, and the figures.

Every scenario records what it did (kills, instances, losses) with
``record_figures``; the totals are printed at the end of the run, and written
as JSON to ``$PYFLOW_FAULTS_REPORT`` when it is set (the README's "Guarantees"
section quotes them).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from pyflow_actors.config import TokenSpec
from tests.api.conftest import ServerThread, workflows_api
from tests.workflows import ledger_lines

TOKEN, ACCOUNT = "faults-token", "faults"
ROOT = Path(__file__).resolve().parents[2]

FIGURES: dict[str, dict[str, Any]] = {}


def record_figures(scenario: str, **figures: Any) -> None:
    """Keep what a scenario did, for the summary at the end of the run."""
    FIGURES[scenario] = figures


def pytest_terminal_summary(terminalreporter) -> None:
    if not FIGURES:
        return
    terminalreporter.section("fault-injection figures")
    totals: dict[str, int] = {}
    for scenario, figures in FIGURES.items():
        terminalreporter.write_line(f"{scenario}: {json.dumps(figures, sort_keys=True)}")
        for key, value in figures.items():
            if isinstance(value, int) and not isinstance(value, bool):
                totals[key] = totals.get(key, 0) + value
    terminalreporter.write_line(f"TOTAL ({len(FIGURES)} scenarios): {json.dumps(totals)}")
    report = os.environ.get("PYFLOW_FAULTS_REPORT")
    if report:
        Path(report).write_text(json.dumps({"scenarios": FIGURES, "totals": totals}, indent=2))


@pytest.fixture(scope="session")
def fault_gateway(engine) -> Iterator[str]:
    """The gateway (in a thread) in front of the session's engine."""
    from service import create_app

    client = asyncio.run(engine.async_client())
    server = ServerThread(
        create_app(client, engine.config, tokens=(TokenSpec(TOKEN, (ACCOUNT,)),))
    ).start()
    yield server.url
    server.stop()


@pytest.fixture
def api(fault_gateway) -> Iterator[httpx.Client]:
    """Raw HTTP on ``/client/v4/accounts/faults/workflows`` with the token."""
    with workflows_api(fault_gateway, ACCOUNT, TOKEN, timeout=90) as client:
        yield client


def check_ledger_steps(client, ledger: str, instance_ids: list[str], steps: int) -> dict[str, int]:
    """Every step's line is in the ledger; no committed step ran again.

    From each instance's journal (describe): every step has exactly one
    successful attempt, and every other attempt was interrupted by a kill.
    The ledger has at least one line per step, and an extra line only for an
    interrupted attempt (the one in flight at a kill). Returns the totals.
    """
    lines = ledger_lines(ledger)
    interrupted = extra = 0
    for instance_id in instance_ids:
        detail = client.workflow("ledger").get(instance_id).describe()
        records = {s.name: s for s in detail.steps if s.type == "step"}
        for i in range(steps):
            record = records[f"step-{i}"]
            ok = [a for a in record.attempts if a.success]
            failed = [a for a in record.attempts if not a.success]
            assert len(ok) == 1, (instance_id, i, record.attempts)
            assert all(a.error is not None and a.error.name == "Interrupted" for a in failed), (
                instance_id,
                i,
                record.attempts,
            )
            count = lines.count(f"{instance_id} step-{i}")
            assert count >= 1, f"{instance_id} step-{i} is missing from the ledger"
            assert count - 1 <= len(failed), (instance_id, i, count, record.attempts)
            interrupted += len(failed)
            extra += count - 1
    return {"interrupted_attempts": interrupted, "extra_ledger_lines": extra}


def kill_tree(pid: int, timeout: float = 30) -> int:
    """kill -9 a process and every process under it at once; wait until all are gone."""
    try:
        root = psutil.Process(pid)
        tree = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    for proc in tree:
        try:
            proc.send_signal(signal.SIGKILL)
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(tree, timeout=timeout)
    assert not alive, f"still running after kill -9: {[p.pid for p in alive]}"
    return len(tree)


def wait_all_final(client, workflow: str, ids: list[str], timeout: float) -> dict[str, Any]:
    """Poll until every instance is final; return their status infos."""
    deadline = time.monotonic() + timeout
    handles = {i: client.workflow(workflow).get(i) for i in ids}
    done: dict[str, Any] = {}
    while True:
        for instance_id, handle in handles.items():
            if instance_id not in done:
                info = handle.status()
                if info.status.value in ("complete", "errored", "terminated"):
                    done[instance_id] = info
        if len(done) == len(handles):
            return done
        if time.monotonic() > deadline:
            missing = {i: handles[i].status().status.value for i in handles if i not in done}
            raise AssertionError(f"not final within {timeout}s: {missing}")
        time.sleep(0.2)
