"""The six lifecycle messages, in exactly the JSON shape of Cloudflare's Event
subscriptions page, built from a registry status change.

.. code-block:: json

    {"type": "cf.workflows.workflow.instance.completed",
     "source": {"type": "workflows.workflow", "workflowName": "my-workflow"},
     "payload": {"versionId": "v1", "instanceId": "inst-1"},
     "metadata": {"accountId": "f9f7...", "eventSubscriptionId": "1830...",
                  "eventSchemaVersion": 1, "eventTimestamp": "2025-05-01T02:48:57.132Z"}}

Which change makes which message (:func:`event_for`):

- ``instance.queued``: a new instance (no status before) or a restarted one
  (from a final status) enters ``queued``;
- ``instance.started``: ``running`` entered from ``queued`` or ``paused`` (it
  starts, or resumes after a pause); waking from a sleep or a wait is not one;
- ``instance.paused``: ``paused`` entered;
- ``instance.errored`` / ``terminated`` / ``completed``: that final status entered.

Pure: no storage, no network.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict

from ..models import FINAL_STATUSES, InstanceStatus
from .spec import SubscriptionSpec

TYPE_PREFIX = "cf.workflows.workflow."
SCHEMA_VERSION = 1


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class MessageSource(_Frozen):
    type: Literal["workflows.workflow"] = "workflows.workflow"
    workflowName: str


class MessagePayload(_Frozen):
    versionId: str
    instanceId: str


class MessageMetadata(_Frozen):
    accountId: str
    eventSubscriptionId: str
    eventSchemaVersion: int = SCHEMA_VERSION
    eventTimestamp: str


class SubscriptionMessage(_Frozen):
    """One message body, as POSTed to a webhook or put on a queue."""

    type: str
    source: MessageSource
    payload: MessagePayload
    metadata: MessageMetadata

    @property
    def event(self) -> str:
        """The short event name (``instance.completed``)."""
        return self.type.removeprefix(TYPE_PREFIX)


@dataclass(frozen=True)
class StatusChange:
    """An instance's registry status moved from ``before`` (None: just created) to ``after``."""

    workflow: str
    instance_id: str
    before: InstanceStatus | None
    after: InstanceStatus
    at: float  # epoch seconds


_FINAL_EVENTS = {
    InstanceStatus.ERRORED: "instance.errored",
    InstanceStatus.TERMINATED: "instance.terminated",
    InstanceStatus.COMPLETE: "instance.completed",
}


def event_for(change: StatusChange) -> str | None:
    """The short event name a status change publishes, or ``None``."""
    before, after = change.before, change.after
    if before == after:
        return None
    if after == InstanceStatus.QUEUED:
        return "instance.queued" if before is None or before in FINAL_STATUSES else None
    if after == InstanceStatus.RUNNING:
        started = before in (None, InstanceStatus.QUEUED, InstanceStatus.PAUSED)
        return "instance.started" if started else None
    if after == InstanceStatus.PAUSED:
        return "instance.paused"
    return _FINAL_EVENTS.get(after)


def timestamp(at: float) -> str:
    """``2025-05-01T02:48:57.132Z`` (UTC, milliseconds)."""
    moment = dt.datetime.fromtimestamp(at, dt.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def build_message(
    change: StatusChange,
    subscription: SubscriptionSpec,
    *,
    account_id: str,
    version_id: str,
    subscription_id: str | None = None,
) -> SubscriptionMessage | None:
    """The message ``subscription`` gets for ``change``, or ``None`` if it gets none."""
    event = event_for(change)
    if event is None or not subscription.wants(event, change.workflow):
        return None
    return SubscriptionMessage(
        type=TYPE_PREFIX + event,
        source=MessageSource(workflowName=change.workflow),
        payload=MessagePayload(versionId=version_id, instanceId=change.instance_id),
        metadata=MessageMetadata(
            accountId=account_id,
            eventSubscriptionId=subscription_id or subscription.id,
            eventTimestamp=timestamp(change.at),
        ),
    )


def messages_for(
    change: StatusChange,
    subscriptions: Iterable[SubscriptionSpec],
    *,
    account_id: str,
    version_id: str,
) -> list[tuple[SubscriptionSpec, SubscriptionMessage]]:
    """Every (subscription, message) pair one status change produces (the outbox rows)."""
    out = []
    for subscription in subscriptions:
        message = build_message(change, subscription, account_id=account_id, version_id=version_id)
        if message is not None:
            out.append((subscription, message))
    return out
