"""kill -9 the supervisor while subscription messages are being delivered:
every message arrives (at least once), in order per instance."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import ray

from pyflow_actors.subscriptions.spec import SubscriptionSpec
from tests.conftest import wait_for
from tests.faults.conftest import record_figures

pytestmark = [pytest.mark.ray, pytest.mark.timeout(240)]

SCENARIO = "kill -9 of the supervisor while subscriptions deliver"
INSTANCES, KILLS = 12, 2
LIFECYCLE = ["queued", "started", "completed"]


class Receiver(ThreadingHTTPServer):
    """A webhook receiver on a free local port: keeps every message it is sent."""

    def __init__(self) -> None:
        self.received: list[dict[str, object]] = []
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with outer.lock:
                    outer.received.append(json.loads(body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hook"

    def seen(self, instance_id: str) -> list[str]:
        """The lifecycle events of one instance in arrival order (duplicates kept)."""
        with self.lock:
            return [
                str(m["type"]).rsplit(".", 1)[-1]
                for m in self.received
                if m["payload"]["instanceId"] == instance_id  # type: ignore[index]
            ]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _pid(engine) -> int | None:
    try:
        return ray.get(engine.supervisor.pid.remote(), timeout=5)
    except (ray.exceptions.RayError, TimeoutError):
        return None


def _in_order(seen: list[str]) -> bool:
    """Each lifecycle event arrived, and first arrivals are in lifecycle order."""
    firsts = [seen.index(e) for e in LIFECYCLE if e in seen]
    return len(firsts) == len(LIFECYCLE) and firsts == sorted(firsts)


@pytest.mark.slow
def test_kill_9_of_the_supervisor_while_subscriptions_deliver_loses_nothing(
    engine, client, receiver
):
    hook = SubscriptionSpec(
        name=f"hook-{uuid.uuid4().hex[:6]}", workflows=("echo",), url=receiver.url
    )
    subscribed = replace(engine.config, subscriptions=(hook,))
    ray.get(engine.supervisor.configure.remote(subscribed), timeout=60)
    try:
        ids = [f"sub-{uuid.uuid4().hex[:6]}-{n}" for n in range(INSTANCES)]
        pids = [_pid(engine)]
        for n, instance_id in enumerate(ids):
            client.workflow("echo").create(id=instance_id, params={"n": n})
            if n in (INSTANCES // 3, 2 * INSTANCES // 3) and len(pids) <= KILLS:
                os.kill(pids[-1], signal.SIGKILL)  # mid-stream: some sent, some not yet
                pids.append(wait_for(lambda: (p := _pid(engine)) != pids[-1] and p, 60, 0.1))
        wait_for(lambda: all(_in_order(receiver.seen(i)) for i in ids), 120, 0.2)
        time.sleep(0.5)  # a redelivery after the kill lands too, if there is one
        duplicates = sum(len(receiver.seen(i)) - len(LIFECYCLE) for i in ids)
        record_figures(
            SCENARIO,
            kills=len(pids) - 1,
            instances=INSTANCES,
            messages=len(receiver.received),
            lost=0,
            redelivered=duplicates,
        )
        assert all(set(receiver.seen(i)) == set(LIFECYCLE) for i in ids)
    finally:
        ray.get(engine.supervisor.configure.remote(engine.config), timeout=60)
