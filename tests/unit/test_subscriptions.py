"""Subscription messages in the reference's exact shape, the [[subscriptions]]
config and its validation, and the webhook signature."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json

import pytest

from pyflow_actors.config import load_config
from pyflow_actors.errors import ConfigError, InvalidSubscription
from pyflow_actors.models import InstanceStatus as S
from pyflow_actors.subscriptions import (
    EVENTS,
    SIGNATURE_HEADER,
    StatusChange,
    SubscriptionSpec,
    build_message,
    event_for,
    messages_for,
    parse_subscriptions,
    sign,
    verify,
)

# The reference's example for instance.completed (Event subscriptions page), verbatim.
REFERENCE_COMPLETED = """
{
  "type": "cf.workflows.workflow.instance.completed",
  "source": {
    "type": "workflows.workflow",
    "workflowName": "my-workflow"
  },
  "payload": {
    "versionId": "v1",
    "instanceId": "inst-12345678-90ab-cdef-1234-567890abcdef"
  },
  "metadata": {
    "accountId": "f9f79265f388666de8122cfb508d7776",
    "eventSubscriptionId": "1830c4bb612e43c3af7f4cada31fbf3f",
    "eventSchemaVersion": 1,
    "eventTimestamp": "2025-05-01T02:48:57.132Z"
  }
}
"""
AT = dt.datetime(2025, 5, 1, 2, 48, 57, 132000, tzinfo=dt.timezone.utc).timestamp()
INSTANCE = "inst-12345678-90ab-cdef-1234-567890abcdef"


def change(before: S | None, after: S) -> StatusChange:
    return StatusChange("my-workflow", INSTANCE, before, after, AT)


@pytest.mark.parametrize(
    "before, after, event",
    [
        (None, S.QUEUED, "instance.queued"),
        (S.COMPLETE, S.QUEUED, "instance.queued"),  # restart
        (S.QUEUED, S.RUNNING, "instance.started"),
        (S.PAUSED, S.RUNNING, "instance.started"),  # resume
        (S.RUNNING, S.PAUSED, "instance.paused"),
        (S.RUNNING, S.ERRORED, "instance.errored"),
        (S.WAITING, S.TERMINATED, "instance.terminated"),
        (S.RUNNING, S.COMPLETE, "instance.completed"),
    ],
)
def test_each_of_the_six_messages_matches_the_reference_shape(before, after, event):
    spec = SubscriptionSpec(name="all", queue="q")
    message = build_message(
        change(before, after),
        spec,
        account_id="f9f79265f388666de8122cfb508d7776",
        version_id="v1",
        subscription_id="1830c4bb612e43c3af7f4cada31fbf3f",
    )
    assert message is not None and message.event == event
    expected = json.loads(REFERENCE_COMPLETED)
    expected["type"] = f"cf.workflows.workflow.{event}"
    assert json.loads(message.model_dump_json()) == expected


@pytest.mark.parametrize(
    "before, after",
    [
        (S.WAITING, S.RUNNING),  # waking from a sleep or a wait
        (S.RUNNING, S.WAITING),
        (S.PAUSED, S.QUEUED),  # a resume goes through queued: started says it
        (S.RUNNING, S.WAITING_FOR_PAUSE),
        (S.RUNNING, S.RUNNING),
    ],
)
def test_changes_that_are_not_lifecycle_events_publish_nothing(before, after):
    assert event_for(change(before, after)) is None


def test_subscriptions_filter_by_event_and_workflow():
    specs = [
        SubscriptionSpec(name="errors", events=("instance.errored",), queue="q"),
        SubscriptionSpec(name="other-wf", workflows=("other",), queue="q"),
        SubscriptionSpec(name="off", enabled=False, queue="q"),
        SubscriptionSpec(name="everything", url="https://x.example/hook"),
    ]
    got = messages_for(change(S.RUNNING, S.ERRORED), specs, account_id="a", version_id="v")
    assert [spec.name for spec, _ in got] == ["errors", "everything"]
    ids = {m.metadata.eventSubscriptionId for _, m in got}
    assert len(ids) == 2 and all(len(i) == 32 for i in ids)
    got = messages_for(change(S.RUNNING, S.COMPLETE), specs, account_id="a", version_id="v")
    assert [spec.name for spec, _ in got] == ["everything"]


def test_subscriptions_are_read_from_pyflow_toml(tmp_path):
    file = tmp_path / "pyflow.toml"
    file.write_text(
        """
[[subscriptions]]
name = "ops"
events = ["instance.errored", "instance.terminated"]
workflows = ["checkout"]
url = "https://ops.example.com/pyflow"
secret = "s3cret"

[[subscriptions]]
name = "audit"
queue = "audit-events"
"""
    )
    ops, audit = load_config(file).subscriptions
    assert (ops.events, ops.workflows, ops.secret, ops.destination) == (
        ("instance.errored", "instance.terminated"),
        ("checkout",),
        "s3cret",
        "webhook",
    )
    assert (audit.events, audit.queue, audit.destination) == (EVENTS, "audit-events", "queue")
    assert ops.id != audit.id and ops.id == SubscriptionSpec(name="ops", queue="q").id


@pytest.mark.parametrize(
    "block, message",
    [
        ({"events": ["instance.errored"], "queue": "q"}, "'name'"),
        ({"name": "a"}, "exactly one destination"),
        ({"name": "a", "url": "https://x.example", "queue": "q"}, "exactly one destination"),
        ({"name": "a", "url": "ftp://x.example"}, "http:// or https://"),
        ({"name": "a", "queue": "q", "secret": "s"}, "a queue takes none"),
        ({"name": "a", "url": "https://x.example", "secret": ""}, "non-empty"),
        ({"name": "a", "queue": "q", "events": ["instance.done"]}, "unknown event"),
        ({"name": "a", "queue": "q", "events": []}, "unknown event"),
        ({"name": "a", "queue": "q", "workflows": ["bad name"]}, "subscription 'a'"),
        ({"name": "a", "queue": "q", "colour": "red"}, "unknown key"),
        ({"name": "a", "queue": "bad queue"}, "queue 'bad queue' is invalid"),
        ({"name": "a", "queue": "q", "enabled": "yes"}, "true or false"),
    ],
)
def test_invalid_subscription_blocks_say_what_is_allowed(block, message):
    with pytest.raises(InvalidSubscription, match=message):
        parse_subscriptions([block])


def test_subscription_names_are_unique_and_errors_are_config_errors():
    with pytest.raises(InvalidSubscription, match="more than once"):
        parse_subscriptions([{"name": "a", "queue": "q"}, {"name": "a", "queue": "r"}])
    assert issubclass(InvalidSubscription, ConfigError)


def test_webhook_signature_is_the_hmac_sha256_of_the_raw_body():
    body = b'{"type":"cf.workflows.workflow.instance.completed"}'
    expected = hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert SIGNATURE_HEADER == "X-Pyflow-Signature"
    assert sign("s3cret", body) == f"sha256={expected}"
    assert verify("s3cret", body, f"sha256={expected}")
    assert not verify("s3cret", body + b" ", f"sha256={expected}")
    assert not verify("other", body, f"sha256={expected}")
    assert not verify("s3cret", body, expected)  # the prefix is part of the header
    assert not verify("s3cret", body, None)
