"""The soak's workload, through the gateway as any client would call it, and the log of
every call and what came of it.

Creates (single and batch), events, pause/resume and terminate, on a dedicated
workflow (``chaos``) and a shared one (``chaos-shared``). Each answer is
classified once: accepted (2xx), refused (4xx, 503: nothing left behind),
a server error (any other 5xx: a bug), unsent (the connection was refused:
nothing reached the gateway) or unknown (the gateway died mid-call, or a 503
``engine.outcome_unknown``: the supervisor died handling it). An
unknown or unsent create is retried with the same id until answered; its
outcome is then settled by reading the instance's status. An event whose
outcome is unknown cannot be retried (the REST call has no event id): its
instance is marked unsure and judged only on what can still be judged (no
duplicate, no committed step run again).
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

WORKFLOWS = (("chaos", "dedicated"), ("chaos-shared", "shared"))
OUTCOME_UNKNOWN = "11001"  # 503 engine.outcome_unknown: the call may have taken effect
MAX_NOT_FOUND = 50  # 404 answers whose call and path are kept for the report
CREATE_RETRY_SECONDS = 240.0  # a whole-runtime restart takes about a minute here


@dataclass
class Tracked:
    """One instance, as the driver knows it."""

    workflow: str
    steps: int
    events: int
    step_seconds: float = 0.1
    flaky: int | None = None
    sleeps: bool = False
    sent: list[int] = field(default_factory=list)
    kills: list[float] = field(default_factory=list)  # when its own process was killed
    accepted: bool | None = None  # None: not known (yet)
    certain: bool = True  # False: an event's outcome is unknown
    terminated: bool = False  # a terminate was answered 200


@dataclass
class Answer:
    outcome: str  # accepted | refused | server_error | unsent | unknown
    status: int = 0
    code: str = ""
    result: Any = None


class CallLog:
    """Append-only JSON lines of every call and every fault (thread-safe)."""

    def __init__(self, path: Path) -> None:
        self.path, self._lock = path, threading.Lock()

    def write(self, **entry: Any) -> None:
        line = json.dumps({"at": time.time(), **entry}) + "\n"
        with self._lock, self.path.open("a") as out:
            out.write(line)


def call_kind(method: str, path: str) -> str:
    """Which REST call a request is, for the refusals' breakdown: a 404 on a
    read-back of a create whose outcome was unclear is expected (nothing was
    made); one on an accepted instance's status or event would be a bug."""
    route = path.split("?")[0].rstrip("/").split("/")[1:]  # [workflow, "instances", ...]
    if method == "POST":
        if route[-1] == "batch":
            return "create_batch"
        return "send_event" if "events" in route else "create"
    if method == "PATCH":
        return "control"
    if len(route) <= 2:
        return "list"
    return "read_status" if route[-1] == "status" else "read"


class Rest:
    """The gateway's v4 REST API, answers classified (see the module docstring)."""

    def __init__(self, token: str) -> None:
        self.url, self.token = "", token
        self.answers: Counter[str] = Counter()  # "<status> <code>" of every non-2xx answer
        self.by_call: Counter[str] = Counter()  # "<call> <status> <code>" of the same
        self.not_found: list[str] = []  # "<call> <path>" of the first 404s (which calls)

    def call(self, method: str, path: str, body: Any = None, timeout: float = 60) -> Answer:
        url = f"{self.url}/client/v4/accounts/local/workflows{path}"
        headers = {"Authorization": f"Bearer {self.token}"}
        try:
            response = httpx.request(method, url, json=body, headers=headers, timeout=timeout)
        except httpx.ConnectError:
            return Answer("unsent")
        except httpx.HTTPError:
            return Answer("unknown")
        try:
            data = response.json()
        except ValueError:
            data = {}
        errors = data.get("errors") or [{}]
        code = str(errors[0].get("code", "")) if response.status_code >= 400 else ""
        if response.status_code < 300:
            return Answer("accepted", response.status_code, result=data.get("result"))
        self.answers[f"{response.status_code} {code}"] += 1
        kind = call_kind(method, path)
        self.by_call[f"{kind} {response.status_code} {code}"] += 1
        if response.status_code == 404 and len(self.not_found) < MAX_NOT_FOUND:
            self.not_found.append(f"{kind} {path}")
        if response.status_code == 503 and code == OUTCOME_UNKNOWN:
            return Answer("unknown", response.status_code, code)  # may have taken effect
        if response.status_code < 500 or response.status_code == 503:
            return Answer("refused", response.status_code, code)
        return Answer("server_error", response.status_code, code)

    def server_errors(self) -> int:
        """Answers that were a 5xx other than a 503 with its stable code (a bug)."""
        return sum(n for key, n in self.answers.items() if key[0] == "5" and key[:3] != "503")


class Workload:
    """Random calls on ``instances``; every call and its answer goes to ``log``."""

    def __init__(self, rest: Rest, rng: random.Random, ledger: Path, log: CallLog) -> None:
        self.rest, self.rng, self.ledger, self.log = rest, rng, str(ledger), log
        self.instances: dict[str, Tracked] = {}
        self.counts: Counter[str] = Counter()
        self.serial = 0

    def new(self) -> tuple[str, Tracked, dict[str, Any]]:
        self.serial += 1
        workflow = self.rng.choice(WORKFLOWS)[0]
        tracked = Tracked(
            workflow=workflow,
            steps=self.rng.randint(2, 8),
            events=self.rng.choice([0, 0, 1, 3]),
            step_seconds=self.rng.choice([0.1, 0.3, 1.0]),
            flaky=self.rng.choice([None, None, None, 0]),
            sleeps=self.rng.random() < 0.4,
        )
        instance_id = f"c{self.serial}"
        self.instances[instance_id] = tracked
        params = {
            "ledger": self.ledger,
            "steps": tracked.steps,
            "step_seconds": tracked.step_seconds,
            "sleep": self.rng.choice([2, 5, 20]) if tracked.sleeps else 0,
            "events": tracked.events,
            "flaky": tracked.flaky,
        }
        return instance_id, tracked, params

    def _answer(self, name: str, target: str, answer: Answer) -> Answer:
        self.counts[f"{name} {answer.outcome}"] += 1
        self.log.write(call=name, target=target, outcome=answer.outcome, status=answer.status)
        return answer

    # -- creates --------------------------------------------------------------

    def create(self) -> None:
        instance_id, tracked, params = self.new()
        body = {"instance_id": instance_id, "params": params}
        self._create(f"/{tracked.workflow}/instances", body, [instance_id])

    def create_batch(self) -> None:
        workflow = self.rng.choice(WORKFLOWS)[0]
        body, ids = [], []
        for _ in range(self.rng.randint(2, 5)):
            instance_id, tracked, params = self.new()
            tracked.workflow = workflow
            body.append({"instance_id": instance_id, "params": params})
            ids.append(instance_id)
        self._create(f"/{workflow}/instances/batch", body, ids)

    def _create(self, path: str, body: Any, ids: list[str]) -> None:
        """Send until answered (same ids); settle an unclear outcome from the instances."""
        deadline, retried = time.monotonic() + CREATE_RETRY_SECONDS, False
        while True:
            answer = self._answer("create", ",".join(ids), self.rest.call("POST", path, body))
            if answer.outcome == "accepted" and not retried:
                for instance_id in ids:
                    self.instances[instance_id].accepted = True
                return
            if answer.outcome == "refused" and not retried and answer.code != "10410":
                for instance_id in ids:
                    self.instances[instance_id].accepted = False
                return
            if answer.outcome in ("accepted", "refused") or time.monotonic() > deadline:
                return  # settled from the instances' statuses at the end
            retried = retried or answer.outcome != "unsent"
            time.sleep(0.5)

    # -- events and controls ---------------------------------------------------

    def send_event(self) -> None:
        open_ = [
            i for i, t in self.instances.items() if t.accepted and t.certain and not t.terminated
        ]
        open_ = [i for i in open_ if len(self.instances[i].sent) < self.instances[i].events]
        if open_:
            self.send_event_to(self.rng.choice(open_))

    def send_event_to(self, instance_id: str) -> Answer:
        tracked = self.instances[instance_id]
        payload = len(tracked.sent)
        path = f"/{tracked.workflow}/instances/{instance_id}/events/item"
        answer = self._answer("send_event", instance_id, self.rest.call("POST", path, payload))
        if answer.outcome == "accepted":
            tracked.sent.append(payload)
        elif answer.outcome in ("unknown", "server_error"):
            tracked.certain = False
        return answer

    def control(self, instance_id: str, action: str) -> Answer:
        tracked = self.instances[instance_id]
        path = f"/{tracked.workflow}/instances/{instance_id}/status"
        body = {"status": action}
        return self._answer(action, instance_id, self.rest.call("PATCH", path, body))

    def pause_and_resume(self) -> None:
        known = [i for i, t in self.instances.items() if t.accepted and not t.terminated]
        if known:
            instance_id = self.rng.choice(known)
            for action in ("pause", "resume"):
                if self.control(instance_id, action).status == 503:
                    # Refused, or applied but not yet written (storage refusing):
                    # the soak does not settle it, so its end state is not judged.
                    self.instances[instance_id].certain = False

    def terminate(self) -> None:
        known = [i for i, t in self.instances.items() if t.accepted and not t.terminated]
        if not known:
            return
        instance_id = self.rng.choice(known)
        answer = self.control(instance_id, "terminate")
        if answer.outcome == "accepted":
            self.instances[instance_id].terminated = True
        elif answer.outcome in ("unknown", "server_error") or answer.status == 503:
            self.instances[instance_id].certain = False  # it may have been applied

    def step(self) -> None:
        actions = [
            (self.create, 30),
            (self.create_batch, 8),
            (self.send_event, 35),
            (self.pause_and_resume, 5),
            (self.terminate, 1),
        ]
        self.rng.choices([a for a, _ in actions], [w for _, w in actions])[0]()

    # -- the end ---------------------------------------------------------------

    def finish(self, over: Callable[[], bool]) -> None:
        """Settle unclear creates, resume everything, send every event still owed
        (to an unsure instance too: its output is not judged, but it must end)."""
        for instance_id, tracked in self.instances.items():
            while tracked.accepted is None and not over():
                answer = self.rest.call("GET", f"/{tracked.workflow}/instances/{instance_id}")
                if answer.outcome == "accepted" or answer.status == 404:
                    tracked.accepted = answer.outcome == "accepted"
                else:
                    time.sleep(1)
            if not tracked.accepted or tracked.terminated:
                continue
            while self.control(instance_id, "resume").outcome in ("unsent", "unknown"):
                if over():
                    break
                time.sleep(1)
            # An unsure instance (an event's outcome unknown) is sent what it may still
            # wait for too: else it waits out its wait timeout and the drain ends
            # by "stall". One that had them all answers 409 once final.
            while len(tracked.sent) < tracked.events:
                answer = self.send_event_to(instance_id)
                if answer.outcome == "accepted":
                    continue
                if over() or answer.status in (404, 409):
                    break  # it cannot take events any more: the checker says why
                time.sleep(0.5)
