"""Event subscriptions: lifecycle messages of instances, for webhooks and queues.

- :mod:`.spec`: the ``[[subscriptions]]`` blocks of ``pyflow.toml``;
- :mod:`.messages`: the six messages of Cloudflare's Event subscriptions page,
  built from a registry status change;
- :mod:`.signing`: the webhook signature header;
- :mod:`.pull`: the pull-consumer queue's shapes;
- :mod:`.delivery`: status changes to outbox rows, the webhook sender and the
  queue's pull/ack over the outbox (storage and HTTP: imported explicitly by
  the supervisor, never by this package's top level, which stays pure so that
  ``config`` and the gateway can import it without DuckDB).
"""

from __future__ import annotations

from .messages import (
    StatusChange,
    SubscriptionMessage,
    build_message,
    event_for,
    messages_for,
)
from .signing import SIGNATURE_HEADER, sign, verify
from .spec import EVENTS, SubscriptionSpec, parse_subscriptions

__all__ = [
    "EVENTS",
    "SIGNATURE_HEADER",
    "StatusChange",
    "SubscriptionMessage",
    "SubscriptionSpec",
    "build_message",
    "event_for",
    "messages_for",
    "parse_subscriptions",
    "sign",
    "verify",
]
