"""kill -9 the supervisor's process while creates, events and control commands arrive
through the gateway."""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid
from typing import Any

import httpx
import pytest
import ray

from tests.conftest import wait_for
from tests.faults.conftest import (
    ACCOUNT,
    FIGURES,
    TOKEN,
    check_ledger_steps,
    record_figures,
    wait_all_final,
)
from tests.workflows import ledger_lines

pytestmark = [pytest.mark.ray, pytest.mark.timeout(240)]

SCENARIO = "kill -9 of the supervisor under gateway traffic"
SUPERVISOR_KILLS = 3
CREATES = 24
COLLECTORS, EVENTS_EACH = 3, 8
SLEEP_SECONDS, WAKE_TOLERANCE = 3.0, 5.0


class Traffic(threading.Thread):
    """One caller on its own HTTP connection; records (what, status code) per call."""

    def __init__(self, gateway: str, calls: list[tuple[str, str, str, Any]], pace: float):
        super().__init__(daemon=True)
        self.gateway, self.calls, self.pace = gateway, calls, pace
        self.results: list[tuple[str, int]] = []

    def run(self) -> None:
        with httpx.Client(
            base_url=f"{self.gateway}/client/v4/accounts/{ACCOUNT}/workflows",
            headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=90,
        ) as http:
            for tag, method, path, body in self.calls:
                try:
                    code = http.request(method, path, json=body).status_code
                except httpx.HTTPError:
                    code = 0  # no answer: not accepted as far as the caller knows
                self.results.append((tag, code))
                time.sleep(self.pace)


def _supervisor_pid(engine) -> int:
    return ray.get(engine.supervisor.pid.remote(), timeout=60)


@pytest.mark.slow
def test_kill_9_of_supervisor_while_gateway_traffic_arrives(engine, client, fault_gateway, ledger):
    prefix = f"sk-{uuid.uuid4().hex[:6]}"
    started = time.monotonic()
    ledger_wf, collector_wf = client.workflow("ledger"), client.workflow("gather")
    sleepers = [f"{prefix}-sleep-{n}" for n in range(3)]
    for instance_id in sleepers:
        ledger_wf.create(
            id=instance_id,
            params={"ledger": ledger, "steps": 2, "step_seconds": 0.05, "sleep": SLEEP_SECONDS},
        )
    collectors = [f"{prefix}-coll-{n}" for n in range(COLLECTORS)]
    for instance_id in collectors:
        collector_wf.create(id=instance_id, params={"n": EVENTS_EACH})
    to_pause = [f"{prefix}-pause-{n}" for n in range(2)]
    to_terminate = [f"{prefix}-term-{n}" for n in range(2)]
    for instance_id in to_pause:
        ledger_wf.create(
            id=instance_id, params={"ledger": ledger, "steps": 10, "step_seconds": 1.0}
        )
    for instance_id in to_terminate:
        ledger_wf.create(
            id=instance_id, params={"ledger": ledger, "steps": 60, "step_seconds": 0.3}
        )
    wait_for(lambda: all(ledger_wf.get(i).status().status.value == "running" for i in to_pause), 60)

    created = [f"{prefix}-new-{n}" for n in range(CREATES)]
    creates = [
        (
            i,
            "POST",
            "/ledger/instances",
            {"instance_id": i, "params": {"ledger": ledger, "steps": 3, "step_seconds": 0.1}},
        )
        for i in created
    ]
    sent = [(c, {"from": c, "n": k}) for k in range(EVENTS_EACH) for c in collectors]
    events = [(c, "POST", f"/gather/instances/{c}/events/item", body) for c, body in sent]
    controls = [
        *[(i, "PATCH", f"/ledger/instances/{i}/status", {"status": "pause"}) for i in to_pause],
        *[(i, "PATCH", f"/ledger/instances/{i}/status", {"status": "resume"}) for i in to_pause],
        *[
            (i, "PATCH", f"/ledger/instances/{i}/status", {"status": "terminate"})
            for i in to_terminate
        ],
    ]
    threads = [
        Traffic(fault_gateway, creates, 0.25),
        Traffic(fault_gateway, events, 0.25),
        Traffic(fault_gateway, controls, 1.0),
    ]
    for thread in threads:
        thread.start()

    pids = [_supervisor_pid(engine)]
    downtime = 0.0
    for _ in range(SUPERVISOR_KILLS):
        time.sleep(1.5)
        os.kill(pids[-1], signal.SIGKILL)
        killed_at = time.monotonic()
        # Ray restarts it (detached, max_restarts=-1); wait for the new process.
        pids.append(wait_for(lambda: _alive_new_pid(engine, pids[-1]), 60, 0.1))
        downtime += time.monotonic() - killed_at
    for thread in threads:
        thread.join(timeout=150)
        assert not thread.is_alive(), "a caller is stuck"

    results = [r for t in threads for r in t.results]
    refused = [r for r in results if not 200 <= r[1] < 300]
    # Every call was answered (the gateway rides out the restarts), and accepted;
    # checked first, so that a refusal says so rather than a missing instance later.
    assert not refused, (refused, f"supervisor down {downtime:.1f} s over {len(pids) - 1} kills")
    accepted_events = [
        b for (_, b), (_, code) in zip(sent, threads[1].results, strict=True) if code == 200
    ]

    final = wait_all_final(
        client, "ledger", created + sleepers + to_pause + to_terminate, timeout=150
    )
    final.update(wait_all_final(client, "gather", collectors, timeout=60))
    wrong: dict[str, Any] = {}
    for instance_id in created:
        if (final[instance_id].status.value, final[instance_id].output) != ("complete", 3):
            wrong[instance_id] = final[instance_id]
    for instance_id in to_pause:
        if (final[instance_id].status.value, final[instance_id].output) != ("complete", 45):
            wrong[instance_id] = final[instance_id]
    for instance_id in to_terminate:
        if final[instance_id].status.value != "terminated":
            wrong[instance_id] = final[instance_id]
    for instance_id in sleepers:
        if (final[instance_id].status.value, final[instance_id].output) != ("complete", 1):
            wrong[instance_id] = final[instance_id]
    duplicated_events = 0
    for instance_id in collectors:
        expected = [b for b in accepted_events if b["from"] == instance_id]
        got = final[instance_id].output or []
        duplicated_events += len(got) - len({(e["from"], e["n"]) for e in got})
        if sorted(got, key=lambda e: e["n"]) != expected:
            wrong[instance_id] = final[instance_id]
    listed = [i.id for i in ledger_wf.list(per_page=1000).instances if i.id.startswith(prefix)]
    record_figures(
        SCENARIO,
        supervisor_kills=SUPERVISOR_KILLS,
        kills=SUPERVISOR_KILLS,
        instances=len(final),
        creates_accepted=sum(1 for t, c in threads[0].results if c == 201),
        events_accepted=len(accepted_events),
        controls_accepted=sum(1 for t, c in threads[2].results if c == 200),
        refused_calls=len(refused),
        lost=len(wrong),
        duplicated=len(listed) - len(set(listed)) + duplicated_events,
        seconds=round(time.monotonic() - started, 1),
    )
    assert len(set(pids)) == SUPERVISOR_KILLS + 1
    assert not wrong, wrong
    assert duplicated_events == 0
    assert sorted(listed) == sorted(created + sleepers + to_pause + to_terminate)

    # Sleepers woke on time across the restarts: within WAKE_TOLERANCE seconds of
    # their wake time, plus the time the supervisor (which fires alarms) was down.
    lateness = []
    for instance_id in sleepers:
        nap = next(s for s in ledger_wf.get(instance_id).describe().steps if s.type == "sleep")
        assert nap.end is not None
        lateness.append(nap.end - (nap.start + SLEEP_SECONDS))
    assert all(-0.01 <= late <= WAKE_TOLERANCE + downtime for late in lateness), (
        lateness,
        downtime,
    )
    totals = check_ledger_steps(client, ledger, created, 3)
    assert totals["interrupted_attempts"] == 0  # only the supervisor died
    assert len(ledger_lines(ledger)) > 0
    record_figures(
        SCENARIO,
        **FIGURES[SCENARIO],
        **totals,
        supervisor_downtime_s=round(downtime, 1),
        max_wake_lateness_s=round(max(lateness), 1),
    )


def _alive_new_pid(engine, old: int) -> int | None:
    try:
        pid = ray.get(engine.supervisor.pid.remote(), timeout=5)
    except (ray.exceptions.RayError, TimeoutError):
        return None
    return pid if pid != old else None


def test_event_sent_by_binding_name_survives_a_supervisor_kill(engine, client):
    """An event buffered in the registry (its instance paused) is found again after a
    restart, whichever name of the workflow (name or binding) the sender used."""
    instance = client.workflow("gather").create(
        id=f"sk-bind-{uuid.uuid4().hex[:6]}", params={"n": 1}
    )
    wait_for(lambda: instance.status().status.value == "waiting", 30)
    instance.pause()
    client.workflow("GATHER").get(instance.id).send_event("item", "by binding")
    old = _supervisor_pid(engine)
    os.kill(old, signal.SIGKILL)
    wait_for(lambda: _alive_new_pid(engine, old), 60, 0.1)
    instance.resume()
    info = instance.wait(30)
    assert (info.status.value, info.output) == ("complete", ["by binding"])


def test_a_send_event_retried_with_its_id_is_delivered_once(engine, client):
    """What the Ray transport does when a supervisor dies between committing an event
    and answering: it sends it again with the same event id."""
    instance = client.workflow("gather").create(
        id=f"sk-retry-{uuid.uuid4().hex[:6]}", params={"n": 2}
    )
    send = engine.supervisor.send_event.remote
    ray.get(send("gather", instance.id, "item", "first", "event-1"))
    ray.get(send("gather", instance.id, "item", "first", "event-1"))  # still buffered
    wait_for(lambda: instance.describe().steps and instance.describe().steps[0].finished, 30)
    ray.get(send("gather", instance.id, "item", "first", "event-1"))  # already delivered
    ray.get(send("gather", instance.id, "item", "second", "event-2"))
    assert instance.wait(30).output == ["first", "second"]
