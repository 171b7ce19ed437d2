"""Webhook delivery from the outbox: signed POSTs, in order per instance,
retried with back-off, dead letters; status changes to outbox rows."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from pyflow_actors.models import InstanceStatus as S
from pyflow_actors.storage.registry import InstanceRow, Registry
from pyflow_actors.subscriptions import SIGNATURE_HEADER, StatusChange, SubscriptionSpec, verify
from pyflow_actors.subscriptions.delivery import DELIVERY_HEADER, WebhookSender, outbox_items

SECRET = "s3cret"
HOOK = SubscriptionSpec(name="hook", url="https://receiver.example/pyflow", secret=SECRET)
QUEUE = SubscriptionSpec(name="audit", queue="audit", events=("instance.completed",))


class Receiver:
    """A webhook receiver that checks signatures; ``fail`` answers 500 that many times."""

    def __init__(self, fail: int = 0) -> None:
        self.fail, self.received = fail, []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if not verify(SECRET, request.content, request.headers.get(SIGNATURE_HEADER)):
            return httpx.Response(401)
        if self.fail:
            self.fail -= 1
            return httpx.Response(500)
        self.received.append((request.headers[DELIVERY_HEADER], json.loads(request.content)))
        return httpx.Response(204)


@pytest.fixture
def registry(tmp_path):
    registry = Registry(tmp_path)
    yield registry
    registry.close()


def publish(registry: Registry, instance: str, *changes: tuple[S | None, S]) -> None:
    row = InstanceRow("shop", instance, "queued", None, 1.0)
    for n, (before, after) in enumerate(changes):
        change = StatusChange("shop", instance, before, after, 1000.0 + n)
        items = outbox_items(change, [HOOK, QUEUE], account_id="acme", version_id="v1")
        row.status = after.value
        if before is None:
            registry.insert([row], items)
        else:
            registry.save(row, items)


def deliver(sender: WebhookSender, now: float):
    return asyncio.run(sender.deliver_due(now=now))


def test_status_changes_become_one_outbox_row_per_subscription_that_wants_them(registry):
    publish(registry, "a", (None, S.QUEUED), (S.QUEUED, S.RUNNING), (S.RUNNING, S.COMPLETE))
    assert registry.outbox.backlog() == {"hook": 3, "audit": 1}
    [queued] = registry.outbox.pull("audit", 10, 30, 1e12)
    assert json.loads(queued.body)["type"] == "cf.workflows.workflow.instance.completed"


def test_signed_messages_arrive_in_order_per_instance(registry):
    publish(registry, "a", (None, S.QUEUED), (S.QUEUED, S.RUNNING), (S.RUNNING, S.COMPLETE))
    publish(registry, "b", (None, S.QUEUED))
    receiver = Receiver()
    sender = WebhookSender(
        registry.outbox,
        [HOOK, QUEUE],
        client=httpx.AsyncClient(transport=httpx.MockTransport(receiver)),
    )
    while registry.outbox.backlog().get("hook"):
        deliver(sender, 1e12)
    by_instance: dict[str, list[str]] = {}
    for _, body in receiver.received:
        by_instance.setdefault(body["payload"]["instanceId"], []).append(
            body["type"].rsplit(".", 1)[1]
        )
    assert by_instance == {"a": ["queued", "started", "completed"], "b": ["queued"]}
    assert len({delivery for delivery, _ in receiver.received}) == 4
    assert sender.latency().count == 4


def test_a_failing_receiver_gets_the_message_again_after_a_back_off(registry):
    publish(registry, "a", (None, S.QUEUED), (S.QUEUED, S.RUNNING))
    receiver = Receiver(fail=2)
    client = httpx.AsyncClient(transport=httpx.MockTransport(receiver))
    sender = WebhookSender(registry.outbox, [HOOK], client=client)
    now = 2e9
    assert deliver(sender, now).failed == 1
    assert deliver(sender, now).delivered == 0  # backing off, and the next one waits behind
    assert deliver(sender, now + 10).failed == 1
    assert deliver(sender, now + 10).delivered == 0
    assert deliver(sender, now + 20).delivered == 1
    assert deliver(sender, now + 20).delivered == 1
    assert [b["type"].rsplit(".", 1)[1] for _, b in receiver.received] == ["queued", "started"]


def test_an_unreachable_receiver_ends_in_the_dead_letters(registry):
    publish(registry, "a", (None, S.QUEUED))
    registry.outbox.max_attempts = 2

    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    sender = WebhookSender(
        registry.outbox, [HOOK], client=httpx.AsyncClient(transport=httpx.MockTransport(down))
    )
    assert deliver(sender, 2e9).failed == 1
    assert deliver(sender, 2e9 + 60).dead == 1
    [dead] = registry.outbox.dead_letters()
    assert dead["last_error"].startswith("ConnectError")


def test_messages_of_a_removed_subscription_are_dead_lettered(registry):
    publish(registry, "a", (None, S.QUEUED))
    sender = WebhookSender(registry.outbox, [], client=httpx.AsyncClient())
    assert deliver(sender, 1e12).dead == 1
    assert registry.outbox.dead_letter_counts() == {"hook": 1}
