"""The supervisor-side objects, without the supervisor: the publisher (status
changes to the outbox, the delivery loop, a kill -9 in the middle of delivery)
and the analytics service (background ingest, queries, stats)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import textwrap
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from pyflow_actors.analytics import AnalyticsQuery, EngineStats
from pyflow_actors.analytics.service import AnalyticsService
from pyflow_actors.storage.registry import Registry
from pyflow_actors.subscriptions import SIGNATURE_HEADER, SubscriptionSpec, verify
from pyflow_actors.subscriptions.publisher import Publisher
from tests.analytics_workload import EXPECTED, build_workload

SECRET = "s3cret"
LIFE = ["queued", "running", "paused", "running", "complete"]
PUBLISHED = ["queued", "started", "paused", "started", "completed"]


class Receiver:
    """A webhook receiver on 127.0.0.1 that records (instance, event) per signed POST."""

    def __init__(self) -> None:
        self.received: list[tuple[str, str]] = []
        lock, received = threading.Lock(), self.received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if not verify(SECRET, body, self.headers.get(SIGNATURE_HEADER)):
                    self.send_response(401)
                else:
                    message = json.loads(body)
                    with lock:
                        received.append(
                            (message["payload"]["instanceId"], message["type"].rsplit(".", 1)[1])
                        )
                    self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def by_instance(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for instance, event in list(self.received):
            out.setdefault(instance, []).append(event)
        return out


@pytest.fixture
def receiver():
    receiver = Receiver()
    yield receiver
    receiver.server.shutdown()


def collapse(events: list[str]) -> list[str]:
    """A re-sent message arrives right after itself: drop consecutive repeats."""
    return [e for i, e in enumerate(events) if i == 0 or events[i - 1] != e]


def test_a_kill_9_while_delivering_loses_nothing_and_keeps_order_per_instance(tmp_path, receiver):
    # The child publishes 5 instances' lives, then delivers and dies (os._exit) just after
    # its 7th delivery reached the receiver, before the outbox recorded it.
    script = textwrap.dedent(
        f"""
        import asyncio, os, sys
        sys.path.insert(0, {str(Path.cwd())!r})
        from pathlib import Path
        import httpx
        from pyflow_actors.storage.registry import InstanceRow, Registry
        from pyflow_actors.subscriptions import SubscriptionSpec
        from pyflow_actors.subscriptions.publisher import Publisher
        registry = Registry(Path({str(tmp_path)!r}))
        spec = SubscriptionSpec(name="hook", url={receiver.url!r}, secret={SECRET!r})
        delivered = []
        async def count(response):
            if response.status_code == 204:
                delivered.append(1)
                if len(delivered) == 7:
                    os._exit(9)
        async def main():
            client = httpx.AsyncClient(event_hooks={{"response": [count]}})
            publisher = Publisher(registry, [spec], account_id="acme", client=client)
            for n in range(5):
                row, before = InstanceRow("shop", f"i{{n}}", "queued", None, 1.0), None
                for status in {LIFE!r}:
                    row.status = status
                    items = publisher.messages("shop", row.id, before, status)
                    (registry.insert([row], items) if before is None else registry.save(row, items))
                    before = status
            await publisher.run(idle=0.01)
        asyncio.run(main())
        """
    )
    done = subprocess.run([sys.executable, "-c", script], timeout=120, capture_output=True)
    assert done.returncode == 9, done.stderr.decode()
    assert len(receiver.received) >= 7
    # The restarted supervisor delivers the rest from the same registry file.
    registry = Registry(tmp_path)
    spec = SubscriptionSpec(name="hook", url=receiver.url, secret=SECRET)
    publisher = Publisher(registry, [spec], account_id="acme")

    async def drain() -> None:
        while registry.outbox.backlog():
            await publisher.deliver_once()
        await publisher.close()

    asyncio.run(asyncio.wait_for(drain(), timeout=60))
    received = receiver.by_instance()
    assert sorted(received) == [f"i{n}" for n in range(5)]
    for instance, events in received.items():
        assert collapse(events) == PUBLISHED, (instance, events)
    assert len(receiver.received) - 5 * len(PUBLISHED) <= 5  # re-sent: only those in flight
    assert publisher.stats()["subscription_backlog"] == {}
    registry.close()


def test_no_subscription_no_messages_and_stats_render(tmp_path):
    registry = Registry(tmp_path)
    quiet = Publisher(registry, [], account_id="acme")
    assert quiet.messages("shop", "a", None, "queued") == []
    audit = Publisher(registry, [SubscriptionSpec(name="audit", queue="audit")], account_id="acme")
    [item] = audit.messages("shop", "a", "running", "complete", version_id="v7")
    assert item.queue == "audit" and json.loads(item.body)["payload"]["versionId"] == "v7"
    registry.outbox.add([item], 1.0)
    pulled = audit.pull("audit", 5, 30_000)
    assert audit.ack("audit", [pulled.messages[0].lease_id], []).ack_count == 1
    stats = EngineStats.model_validate(audit.stats())
    assert stats.subscription_backlog == {} and stats.event_delivery_seconds is not None
    asyncio.run(audit.close())
    asyncio.run(quiet.close())
    registry.close()


def test_the_analytics_service_ingests_in_the_background_when_poked(tmp_path):
    rows = build_workload(tmp_path)
    visible = rows[:1]

    async def scenario() -> None:
        # No supervisor folds these journals here: read them at once, not after FOLD_WAIT.
        service = AnalyticsService(tmp_path, fold_wait=0.0)
        task = asyncio.create_task(service.run(lambda: list(visible), every=60))
        query = AnalyticsQuery(dataset="workflowsAdaptiveGroups", dimensions=["eventType"])

        async def counted() -> int:
            result = await service.query(query)
            return sum(r["count"] for r in result.rows)

        deadline = asyncio.get_running_loop().time() + 20
        while await counted() == 0:
            assert asyncio.get_running_loop().time() < deadline
            await asyncio.sleep(0.05)
        first = await counted()
        visible.extend(rows[1:])  # more instances became final...
        service.poke()  # ...and the supervisor says so
        while await counted() == first:
            assert asyncio.get_running_loop().time() < deadline
            await asyncio.sleep(0.05)
        assert await counted() == sum(EXPECTED.values())
        stats = EngineStats.model_validate(service.stats())
        assert stats.steps is not None and stats.steps.attempts["shop"]["failure"] == 3
        task.cancel()
        service.close()

    asyncio.run(scenario())


def test_with_no_subscription_the_delivery_loop_never_queries_the_outbox(tmp_path):
    registry = Registry(tmp_path)
    quiet = Publisher(registry, [], account_id="acme")
    passes: list[int] = []

    async def counted() -> int:
        passes.append(1)
        return 0

    quiet.deliver_once = counted  # type: ignore[method-assign]

    async def scenario() -> None:
        loop = asyncio.create_task(quiet.run(idle=0.01))
        await asyncio.sleep(0.1)
        assert passes == []  # ten idle periods, no pass over the outbox
        quiet.configure([SubscriptionSpec(name="audit", queue="audit")])
        await asyncio.wait_for(_until(lambda: bool(passes)), timeout=5)
        loop.cancel()

    asyncio.run(scenario())
    asyncio.run(quiet.close())
    registry.close()


async def _until(condition) -> None:
    while not condition():
        await asyncio.sleep(0.01)
