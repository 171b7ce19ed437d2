"""The chaos soak: a mixed workload while instance actors and the supervisor are killed.

``python -m benchmarks.chaos --minutes 3 --name chaos-quick`` (``make chaos``,
``make chaos-quick``). For ``--minutes`` it keeps creating instances (single
and batch creates; steps with retries, sleeps, event waits), sends their events,
pauses and resumes them, while a killer thread kill -9s, every 0.2 to 2 s, a
live instance actor or (one time in ten, at most every 20 s) the supervisor
(Ray restarts it). Every accepted call is appended to a log
(``calls.jsonl`` in the run's folder). Then it waits for every instance to end
and checks, from that log and the steps' ledger:

* every accepted instance is ``complete`` with the right output (lost, wrong);
* no step ran more often than the kills of its instance allow (repeated);
* every accepted event was consumed once, in the order sent (in the output);
* no instance is listed twice (duplicated).

It writes its figures (kills by kind, instances, events, steps, lost,
duplicated, repeated, the seed) to ``benchmarks/results/<name>.json`` and a
short table; a failing run prints its seed (``--seed`` replays the same
choices; the kills' moments still depend on timing).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
WORKFLOW = "chaos"
DRAIN_SECONDS = 300.0
SUPERVISOR_KILL_GAP = 20.0  # seconds between supervisor kills at least


@dataclass
class Tracked:
    """One created instance, as the driver knows it."""

    steps: int
    events: int
    sent: list[int] = field(default_factory=list)
    kills: int = 0
    certain: bool = True  # False: a call on it failed, its outcome is unknown


@dataclass
class Figures:
    seed: int
    minutes: float
    kills: Counter[str] = field(default_factory=Counter)
    creates: int = 0
    batch_creates: int = 0
    events: int = 0
    controls: int = 0
    failed_calls: int = 0
    steps_run: int = 0
    lost: list[str] = field(default_factory=list)
    wrong: list[str] = field(default_factory=list)
    repeated: list[str] = field(default_factory=list)
    duplicated: int = 0


class CallLog:
    """Append-only JSON lines of every call and what came of it."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def write(self, **entry: Any) -> None:
        with self.path.open("a") as out:
            out.write(json.dumps({"at": time.time(), **entry}) + "\n")


class Chaos:
    def __init__(self, engine: Any, rng: random.Random, work: Path, figures: Figures) -> None:
        self.engine, self.rng, self.figures = engine, rng, figures
        self.workflow = engine.client.workflow(WORKFLOW)
        self.ledger = str(work / "ledger.txt")
        self.calls = CallLog(work / "calls.jsonl")
        self.instances: dict[str, Tracked] = {}
        self.last_supervisor_kill = time.monotonic()
        self.serial = 0

    # -- the workload ---------------------------------------------------------

    def params(self) -> tuple[dict[str, Any], Tracked]:
        tracked = Tracked(steps=self.rng.randint(1, 6), events=self.rng.choice([0, 0, 1, 3]))
        params = {
            "ledger": self.ledger,
            "steps": tracked.steps,
            "step_seconds": self.rng.choice([0.02, 0.1, 0.3]),
            "sleep": self.rng.choice([0, 0, 2, 5]),
            "events": tracked.events,
        }
        return params, tracked

    def next_id(self) -> str:
        self.serial += 1
        return f"c{self.serial}"

    def create(self) -> None:
        instance_id, (params, tracked) = self.next_id(), self.params()
        self.instances[instance_id] = tracked
        ok = self._call(
            "create", instance_id, lambda: self.workflow.create(id=instance_id, params=params)
        )
        self.figures.creates += ok

    def create_batch(self) -> None:
        batch: list[dict[str, Any]] = []
        for _ in range(self.rng.randint(2, 5)):
            instance_id, (params, tracked) = self.next_id(), self.params()
            self.instances[instance_id] = tracked
            batch.append({"id": instance_id, "params": params})
        ids = [str(entry["id"]) for entry in batch]
        ok = self._call("create_batch", ",".join(ids), lambda: self.workflow.create_batch(batch))
        self.figures.batch_creates += ok  # a failed call marked its instances unsure

    def send_event(self) -> None:
        open_ = [i for i, t in self.instances.items() if len(t.sent) < t.events and t.certain]
        if not open_:
            return
        instance_id = self.rng.choice(open_)
        tracked = self.instances[instance_id]
        payload = len(tracked.sent)
        ok = self._call(
            "send_event",
            instance_id,
            lambda: self.workflow.get(instance_id).send_event("item", payload),
        )
        if ok:
            tracked.sent.append(payload)
            self.figures.events += 1

    def pause_and_resume(self) -> None:
        instance_id = self.rng.choice(list(self.instances))
        handle = self.workflow.get(instance_id) if self.instances[instance_id].certain else None
        if handle is None:
            return
        for action in (handle.pause, handle.resume):
            self.figures.controls += self._call(
                action.__name__, instance_id, action, ambiguous=False
            )

    # -- the faults -----------------------------------------------------------

    def kill_instance(self) -> None:
        import ray

        live = [i for _, i in ray.get(self.engine.supervisor.live_instances.remote(), timeout=30)]
        live = [i for i in live if i in self.instances]
        if not live:
            return
        victim = self.rng.choice(live)
        try:
            pid = ray.get(self.engine.supervisor.actor_pid.remote(WORKFLOW, victim), timeout=10)
            if pid is None:
                return
            os.kill(pid, signal.SIGKILL)
        except (ray.exceptions.RayError, TimeoutError, ProcessLookupError):
            return  # it ended meanwhile
        self.instances[victim].kills += 1
        self.figures.kills["instance actor"] += 1
        self.calls.write(call="kill", kind="instance actor", instance=victim, pid=pid)

    def kill_supervisor(self) -> None:
        import ray

        if time.monotonic() - self.last_supervisor_kill < SUPERVISOR_KILL_GAP:
            return
        pid = ray.get(self.engine.supervisor.pid.remote(), timeout=60)
        os.kill(pid, signal.SIGKILL)
        self.last_supervisor_kill = time.monotonic()
        self.figures.kills["supervisor"] += 1
        self.calls.write(call="kill", kind="supervisor", pid=pid)

    # -- one call -------------------------------------------------------------

    def _call(self, name: str, target: str, call: Any, ambiguous: bool = True) -> bool:
        try:
            call()
        except Exception as exc:  # noqa: BLE001 - recorded; the checker knows the call is unsure
            self.figures.failed_calls += 1
            self.calls.write(call=name, target=target, ok=False, error=repr(exc)[:300])
            if ambiguous:
                for instance_id in target.split(","):
                    if instance_id in self.instances:
                        self.instances[instance_id].certain = False
            return False
        self.calls.write(call=name, target=target, ok=True)
        return True

    def step(self) -> None:
        actions = [
            (self.create, 30),
            (self.create_batch, 8),
            (self.send_event, 35),
            (self.pause_and_resume, 5),
        ]
        action = self.rng.choices([a for a, _ in actions], [w for _, w in actions])[0]
        action()

    def kill_at_random(self, stop: threading.Event, seed: int) -> None:
        """The killer (its own thread, its own random numbers): a kill every 0.2 to 2 s,
        the supervisor at most every ``SUPERVISOR_KILL_GAP`` seconds."""
        rng = random.Random(seed)
        while not stop.wait(rng.uniform(0.2, 2.0)):
            try:
                if rng.random() < 0.1:
                    self.kill_supervisor()
                else:
                    self.kill_instance()
            except Exception as exc:  # noqa: BLE001 - the supervisor is restarting: try later
                self.calls.write(call="kill", ok=False, error=repr(exc)[:300])

    # -- the end --------------------------------------------------------------

    def finish_events(self) -> None:
        """Resume every instance and send the events still owed, so that every one can end."""
        for instance_id, tracked in self.instances.items():
            if tracked.certain:
                self._call("resume", instance_id, self.workflow.get(instance_id).resume, False)
            while tracked.certain and len(tracked.sent) < tracked.events:
                self.send_event_to(instance_id)

    def send_event_to(self, instance_id: str) -> None:
        tracked = self.instances[instance_id]
        payload = len(tracked.sent)
        if self._call(
            "send_event",
            instance_id,
            lambda: self.workflow.get(instance_id).send_event("item", payload),
        ):
            tracked.sent.append(payload)
            self.figures.events += 1

    def check(self, drain: float = DRAIN_SECONDS) -> None:
        """Wait up to ``drain`` seconds for every instance to end, then judge the run."""
        from benchmarks.chaos_workflow import expected_output

        deadline, completed = time.monotonic() + drain, set()
        for instance_id, tracked in self.instances.items():
            status = self._final_status(instance_id, deadline)
            if status is None:
                if tracked.certain:
                    self.figures.lost.append(instance_id)
                continue
            if status.status.value != "complete":
                self.figures.wrong.append(f"{instance_id}: {status.status.value}")
                continue
            completed.add(instance_id)
            if tracked.certain and status.output != expected_output(tracked.steps, tracked.sent):
                self.figures.wrong.append(f"{instance_id}: output {status.output}")
        ledger = Path(self.ledger)
        lines = Counter(ledger.read_text().splitlines() if ledger.exists() else [])
        for instance_id, tracked in self.instances.items():
            extra = sum(max(0, lines[f"{instance_id} step-{i}"] - 1) for i in range(tracked.steps))
            self.figures.steps_run += sum(
                lines[f"{instance_id} step-{i}"] for i in range(tracked.steps)
            )
            if instance_id in completed and any(
                lines[f"{instance_id} step-{i}"] == 0 for i in range(tracked.steps)
            ):
                self.figures.wrong.append(f"{instance_id}: a step never ran")
            if extra > tracked.kills:  # only an attempt in flight at a kill may repeat
                self.figures.repeated.append(f"{instance_id}: {extra} extra, {tracked.kills} kills")
        listed = self.workflow.list(per_page=1000).total
        self.figures.duplicated = max(0, listed - len(self.instances))

    def _final_status(self, instance_id: str, deadline: float) -> Any:
        """The instance's final status; None if it is not final by ``deadline`` (asked
        at least once, however late)."""
        while True:
            try:
                status = self.workflow.get(instance_id).status()
            except Exception:  # noqa: BLE001 - not found (a create that did not go through)
                if not self.instances[instance_id].certain:
                    return None
            else:
                if status.status.value in ("complete", "errored", "terminated"):
                    return status
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.2)


def run(minutes: float, seed: int, name: str) -> int:
    from benchmarks.chaos_workflow import ChaosFlow
    from pyflow_actors.config import EngineConfig, WorkflowSpec
    from pyflow_actors.runtime.local import start_local

    rng, figures = random.Random(seed), Figures(seed=seed, minutes=minutes)
    work = Path(tempfile.mkdtemp(prefix="pyflow-chaos-"))
    config = EngineConfig(
        storage=work / "storage",
        namespace=f"chaos-{seed}-{os.getpid()}",
        hibernate_after=1.0,
        max_running=8,
        workflows=(WorkflowSpec.of(WORKFLOW, ChaosFlow),),
    )
    engine = start_local(config)
    began = time.monotonic()
    try:
        chaos = Chaos(engine, rng, work, figures)
        stop = threading.Event()
        killer = threading.Thread(target=chaos.kill_at_random, args=(stop, seed + 1), daemon=True)
        killer.start()
        while time.monotonic() - began < minutes * 60:
            chaos.step()
            time.sleep(rng.uniform(0.02, 0.3))
        stop.set()
        killer.join(120)
        chaos.finish_events()
        chaos.check()
    finally:
        engine.shutdown()
    report = write_report(name, figures, time.monotonic() - began, len(chaos.instances))
    failed = figures.lost or figures.wrong or figures.repeated or figures.duplicated
    print(report)
    if failed:
        print(f"chaos FAILED: replay with --seed {seed} (run folder kept: {work})", file=sys.stderr)
        return 1
    shutil.rmtree(work, ignore_errors=True)
    return 0


def write_report(name: str, figures: Figures, seconds: float, instances: int) -> str:
    data = {
        "name": name,
        "seed": figures.seed,
        "minutes": figures.minutes,
        "seconds": round(seconds, 1),
        "kills": dict(figures.kills),
        "kills_total": sum(figures.kills.values()),
        "instances": instances,
        "creates": figures.creates,
        "batch_creates": figures.batch_creates,
        "events": figures.events,
        "controls": figures.controls,
        "failed_calls": figures.failed_calls,
        "steps_run": figures.steps_run,
        "lost": len(figures.lost),
        "wrong": len(figures.wrong),
        "repeated": len(figures.repeated),
        "duplicated": figures.duplicated,
        "problems": figures.lost + figures.wrong + figures.repeated,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(data, indent=2) + "\n")
    rows = [(k, v) for k, v in data.items() if k not in ("problems", "kills")]
    rows += [(f"kills: {kind}", n) for kind, n in figures.kills.items()]
    return "\n".join(f"{key:<22} {value}" for key, value in rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.chaos", description=__doc__)
    parser.add_argument("--minutes", type=float, default=float(os.environ.get("CHAOS_MINUTES", 20)))
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--name", default="chaos")
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    return run(args.minutes, seed, args.name)


if __name__ == "__main__":
    raise SystemExit(main())
