"""kill -9 the supervisor while it folds finished instances into the history store:
nothing is lost (every instance's steps stay readable) and nothing is doubled (one
folded copy per instance, no step run twice)."""

from __future__ import annotations

import os
import signal
import time
import uuid
from pathlib import Path

import pytest
import ray

from pyflow_actors.storage.history import history_store
from pyflow_actors.storage.journal import journal_path
from tests.conftest import wait_for
from tests.faults.conftest import check_ledger_steps, record_figures, wait_all_final

pytestmark = [pytest.mark.ray, pytest.mark.timeout(300)]

INSTANCES, KILLS, STEPS = 30, 3, 2


def _supervisor_pid(engine) -> int:
    return ray.get(engine.supervisor.pid.remote(), timeout=60)


def _new_pid(engine, old: int) -> int | None:
    try:
        pid = _supervisor_pid(engine)
    except Exception:  # noqa: BLE001 - still restarting
        return None
    return pid if pid != old else None


def _folded_counts(storage: Path, ids: list[str]) -> dict[str, int]:
    with history_store(storage, read_only=True).session() as session:
        db = session._db
        if db is None:
            return {}
        rows = db.execute(
            "SELECT instance_id, count(*) FROM folded WHERE workflow = 'ledger' "
            "AND instance_id IN (SELECT unnest(?)) GROUP BY instance_id",
            [ids],
        ).fetchall()
    return {r[0]: int(r[1]) for r in rows}


def test_kill_9_of_the_supervisor_while_it_folds_loses_and_doubles_nothing(engine, client, ledger):
    storage = Path(engine.config.storage)
    prefix = f"hk-{uuid.uuid4().hex[:6]}"
    ids = [f"{prefix}-{n}" for n in range(INSTANCES)]
    ledger_wf = client.workflow("ledger")
    for instance_id in ids:
        ledger_wf.create(id=instance_id, params={"ledger": ledger, "steps": STEPS})
    # Kill while instances finish one after another, so that folds are in flight.
    wait_for(lambda: _folded_counts(storage, ids), 120, 0.05)
    pids = [_supervisor_pid(engine)]
    for _ in range(KILLS):
        os.kill(pids[-1], signal.SIGKILL)
        pids.append(wait_for(lambda: _new_pid(engine, pids[-1]), 60, 0.1))
        time.sleep(0.7)

    final = wait_all_final(client, "ledger", ids, timeout=180)
    assert {i: f.status.value for i, f in final.items()} == dict.fromkeys(ids, "complete")
    assert all(f.output == 1 for f in final.values())  # 0 + 1 over two steps
    wait_for(lambda: not any(journal_path(storage, "ledger", i).exists() for i in ids), 120, 0.2)
    counts = _folded_counts(storage, ids)
    assert counts == dict.fromkeys(ids, 1), counts  # every one folded, once
    figures = check_ledger_steps(client, ledger, ids, STEPS)  # steps readable, none run twice
    record_figures(
        "kill -9 of the supervisor while it folds finished instances",
        supervisor_kills=KILLS,
        kills=KILLS,
        instances=INSTANCES,
        lost=0,
        doubled=0,
        **figures,
    )
