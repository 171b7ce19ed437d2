"""kill -9 the whole ``pyflow dev`` process tree mid-flight, start it again on the same storage.

At the kill, instances are running (inside a step), queued (over max_running),
sleeping (hibernated), waiting for events (hibernated, one event already
accepted and buffered) and paused.
"""

from __future__ import annotations

import time

import httpx
import pytest

from service.schemas import parse_iso
from tests.api.test_cli_dev import DevServer
from tests.conftest import wait_for
from tests.faults.conftest import FIGURES, ROOT, kill_tree, record_figures
from tests.workflows import ledger_lines

pytestmark = [pytest.mark.ray, pytest.mark.timeout(300), pytest.mark.slow]


def api(server: DevServer, method: str, path: str, **kwargs) -> httpx.Response:
    """``server.api`` with room for a loaded 2-core machine (90 s, not 30)."""
    return httpx.request(
        method,
        f"{server.url}/client/v4/accounts/local/workflows{path}",
        headers={"Authorization": f"Bearer {server.token}"},
        timeout=90,
        **kwargs,
    )


def status(server: DevServer, workflow: str, instance_id: str) -> str:
    return api(server, "GET", f"/{workflow}/instances/{instance_id}/status").json()["result"][
        "status"
    ]


SCENARIO = "kill -9 of the pyflow dev process tree, restart on the same storage"
# After the restart the sleeper shares max_running = 2 with the two instances the
# kill interrupted, and a first actor on a loaded 2-core machine takes seconds.
SLEEP_SECONDS, WAKE_TOLERANCE = 6.0, 10.0


def test_kill_9_of_pyflow_dev_tree_then_restart_continues_everything(tmp_path):
    ledger = str(tmp_path / "ledger.txt")
    (tmp_path / "pyflow.toml").write_text(
        "".join(
            f'[[workflows]]\nname = "{name}"\nclass_name = "tests.workflows:{cls}"\n\n'
            for name, cls in [
                ("ledger", "Ledger"),
                ("gather", "Collector"),
                ("waiter", "Waiter"),
            ]
        )
        + '[engine]\nstorage = "state"\nhibernate_after = "1 second"\nmax_running = 2\n'
        + f"code_paths = [{str(ROOT)!r}]\n".replace("'", '"')
    )
    long = {"ledger": ledger, "steps": 4, "step_seconds": 1.0}
    ledgers = {
        "run-a": long,
        "run-b": long,
        "queued-c": long,
        "queued-d": long,
        "paused-e": long,
        "sleeper": {"ledger": ledger, "steps": 2, "step_seconds": 0.05, "sleep": SLEEP_SECONDS},
    }
    started = time.monotonic()
    first = DevServer(tmp_path)
    try:
        # Waiters first (they hold a running slot until they hibernate), then the
        # sleeper, then ledgers: two run, two queue behind max_running = 2, one is paused.
        for workflow, instance_id, params in [
            ("gather", "collect", {"n": 2, "ledger": ledger}),
            ("waiter", "waiter", {"type": "go", "timeout": "1 hour"}),
        ]:
            body = {"instance_id": instance_id, "params": params}
            assert api(first, "POST", f"/{workflow}/instances", json=body).status_code == 201
        for instance_id in ("sleeper", "run-a", "run-b", "queued-c", "queued-d", "paused-e"):
            body = {"instance_id": instance_id, "params": ledgers[instance_id]}
            created = api(first, "POST", "/ledger/instances", json=body)
            assert created.status_code == 201, created.text
        paused = api(first, "PATCH", "/ledger/instances/paused-e/status", json={"status": "pause"})
        assert paused.status_code == 200, paused.text
        wait_for(lambda: status(first, "gather", "collect") == "waiting", 60, 0.2)
        # Accepted before the crash: buffered in the registry or journaled.
        sent = api(first, "POST", "/gather/instances/collect/events/item", json={"n": 1})
        assert sent.status_code == 200, sent.text
        wait_for(lambda: status(first, "ledger", "sleeper") == "waiting", 60, 0.2)
        wait_for(lambda: status(first, "waiter", "waiter") == "waiting", 60, 0.2)
        # run-a and run-b inside a step, the others queued behind max_running = 2.
        wait_for(lambda: sum(" run-" in f" {x}" for x in ledger_lines(ledger)) >= 2, 60, 0.2)
        statuses = {i: status(first, "ledger", i) for i in ledgers}
        assert statuses["queued-c"] == statuses["queued-d"] == "queued", statuses
        assert statuses["paused-e"] == "paused", statuses
        killed = kill_tree(first.proc.pid)
        first.proc.wait(10)
    finally:
        first.kill()
    killed_at = time.time()

    second = DevServer(tmp_path)
    try:
        restarted_at = time.time()
        # Nothing was lost or duplicated by the crash.
        listed = api(second, "GET", "/ledger/instances", params={"per_page": 100}).json()
        assert sorted(i["id"] for i in listed["result"]) == sorted(ledgers)
        assert status(second, "ledger", "paused-e") == "paused"  # stays paused
        resumed = api(
            second, "PATCH", "/ledger/instances/paused-e/status", json={"status": "resume"}
        )
        assert resumed.status_code == 200, resumed.text
        sent = api(second, "POST", "/gather/instances/collect/events/item", json={"n": 2})
        assert sent.status_code == 200, sent.text
        sent = api(second, "POST", "/waiter/instances/waiter/events/go", json="after the crash")
        assert sent.status_code == 200, sent.text

        def finished() -> bool:
            pairs = [("ledger", i) for i in ledgers] + [("gather", "collect")]
            return all(
                status(second, w, i) == "complete" for w, i in pairs + [("waiter", "waiter")]
            )

        wait_for(finished, 150, 0.3)
        outputs = {
            i: api(second, "GET", f"/ledger/instances/{i}").json()["result"] for i in ledgers
        }
        collected = api(second, "GET", "/gather/instances/collect").json()["result"]
        waited = api(second, "GET", "/waiter/instances/waiter").json()["result"]
        lost = sum(outputs[i]["output"] != (6 if i != "sleeper" else 1) for i in ledgers)
        lost += collected["output"] != [{"n": 1}, {"n": 2}]
        lost += waited["output"] != "after the crash"
        lines = ledger_lines(ledger)
        extra = 0
        for instance_id, params in ledgers.items():
            for i in range(params["steps"]):
                count = lines.count(f"{instance_id} step-{i}")
                assert count >= 1, (instance_id, i, lines)
                extra += count - 1
        record_figures(
            SCENARIO,
            kills=1,
            processes_killed=killed,
            instances=len(ledgers) + 2,
            events_accepted=3,
            lost=lost,
            extra_ledger_lines=extra,
            seconds=round(time.monotonic() - started, 1),
        )
        assert lost == 0, (outputs, collected, waited)
        assert lines.count("collect collected 2") == 1
        # Only the two steps in flight at the kill may have run twice.
        assert extra <= 2, lines
        for instance_id in ("queued-c", "queued-d", "paused-e", "sleeper"):
            assert all(lines.count(f"{instance_id} step-{i}") == 1 for i in range(2)), lines
        # The sleeper slept through the crash and woke at its time, or at once
        # after the restart if its time passed while nothing was running.
        nap = next(s for s in outputs["sleeper"]["steps"] if s["type"] == "sleep")
        slept_at, woke = parse_iso(nap["start"], "start"), parse_iso(nap["end"], "end")
        due = max(slept_at + SLEEP_SECONDS, restarted_at)
        assert woke >= slept_at + SLEEP_SECONDS, (woke, slept_at)
        assert woke <= due + WAKE_TOLERANCE, (woke, due, killed_at)
        record_figures(SCENARIO, **FIGURES[SCENARIO], wake_after_due_s=round(woke - due, 1))
    finally:
        second.stop(15)  # SIGTERM: a clean stop this time
        second.kill()
