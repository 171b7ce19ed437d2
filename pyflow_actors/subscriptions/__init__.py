"""Event subscriptions: lifecycle messages of instances, for webhooks and queues.

- :mod:`.spec`: the ``[[subscriptions]]`` blocks of ``pyflow.toml``;
- :mod:`.messages`: the six messages of Cloudflare's Event subscriptions page,
  built from a registry status change;
- :mod:`.signing`: the webhook signature header.

The durable outbox and the delivery loop live with the supervisor; this
package is pure (no storage, no network).
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
