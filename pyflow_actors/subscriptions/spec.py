"""``[[subscriptions]]`` in ``pyflow.toml``: who gets which lifecycle messages.

.. code-block:: toml

    [[subscriptions]]
    name = "ops-alerts"                              # unique; names the subscription
    events = ["instance.errored", "instance.terminated"]   # omit for all six
    workflows = ["checkout"]                         # omit for every workflow
    url = "https://ops.example.com/pyflow"           # an HTTP webhook...
    secret = "whsec-..."                             # ...signed with this (optional)

    [[subscriptions]]
    name = "audit"
    queue = "audit-events"                           # ...or a pull-consumer queue

Every mistake is a :class:`~pyflow_actors.errors.InvalidSubscription` that says
what is allowed. Imports nothing above ``errors``/``limits``.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from ..errors import InvalidSubscription, PyflowError
from ..limits import NAME_PATTERN, validate_workflow_name

# The six short event names of Cloudflare's Event subscriptions page.
EVENTS = (
    "instance.queued",
    "instance.started",
    "instance.paused",
    "instance.errored",
    "instance.terminated",
    "instance.completed",
)
_KEYS = {"name", "events", "workflows", "url", "secret", "queue", "enabled"}
_ID_NAMESPACE = uuid.UUID("6c1d7f2e-93a4-4b8e-9d0f-1f3f0d1c5a77")


@dataclass(frozen=True)
class SubscriptionSpec:
    """One subscription: a name, the events and workflows it wants, one destination."""

    name: str
    events: tuple[str, ...] = EVENTS
    workflows: tuple[str, ...] = ()  # empty: every workflow
    url: str | None = None
    secret: str | None = None
    queue: str | None = None
    enabled: bool = True

    @property
    def id(self) -> str:
        """``eventSubscriptionId``: 32 hex digits, stable for the subscription's name."""
        return uuid.uuid5(_ID_NAMESPACE, self.name).hex

    @property
    def destination(self) -> str:
        return "webhook" if self.url else "queue"

    def wants(self, event: str, workflow: str) -> bool:
        """True if this subscription takes ``event`` (a short name) of ``workflow``."""
        return (
            self.enabled
            and event in self.events
            and (not self.workflows or workflow in self.workflows)
        )


def _strings(block: Mapping[str, Any], key: str, where: str) -> tuple[str, ...] | None:
    value = block.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidSubscription(f"{where}: {key!r} must be a list of strings")
    return tuple(dict.fromkeys(value))


def _destination(block: Mapping[str, Any], where: str) -> dict[str, Any]:
    url, queue, secret = block.get("url"), block.get("queue"), block.get("secret")
    if (url is None) == (queue is None):
        raise InvalidSubscription(
            f"{where}: give exactly one destination, 'url' (a webhook) or 'queue' (a pull queue)"
        )
    if url is not None:
        parts = urlsplit(url) if isinstance(url, str) else None
        if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
            raise InvalidSubscription(f"{where}: url {url!r} must be an http:// or https:// URL")
        if secret is not None and (not isinstance(secret, str) or not secret):
            raise InvalidSubscription(f"{where}: 'secret' must be a non-empty string")
        return {"url": url, "secret": secret}
    if secret is not None:
        raise InvalidSubscription(f"{where}: 'secret' signs webhooks; a queue takes none")
    if not isinstance(queue, str) or not NAME_PATTERN.match(queue) or len(queue) > 64:
        raise InvalidSubscription(
            f"{where}: queue {queue!r} is invalid: use letters, digits, '-' and '_' (max 64)"
        )
    return {"queue": queue}


def parse_subscription(block: Any, index: int = 0) -> SubscriptionSpec:
    """One ``[[subscriptions]]`` table as a :class:`SubscriptionSpec`."""
    where = f"[[subscriptions]] #{index + 1}"
    if not isinstance(block, Mapping):
        raise InvalidSubscription(f"{where} must be a table")
    name = block.get("name")
    if not isinstance(name, str) or not NAME_PATTERN.match(name) or len(name) > 64:
        raise InvalidSubscription(
            f"{where}: 'name' {name!r} is invalid: use letters, digits, '-' and '_' (max 64)"
        )
    where = f"subscription {name!r}"
    unknown = set(block) - _KEYS
    if unknown:
        raise InvalidSubscription(
            f"{where}: unknown key(s) {sorted(unknown)}: known {sorted(_KEYS)}"
        )
    events = _strings(block, "events", where)
    if events is not None:
        bad = [e for e in events if e not in EVENTS]
        if bad or not events:
            raise InvalidSubscription(
                f"{where}: unknown event(s) {bad}: use some of {list(EVENTS)}, or omit for all"
            )
    workflows = _strings(block, "workflows", where) or ()
    for workflow in workflows:
        try:
            validate_workflow_name(workflow)
        except PyflowError as exc:
            raise InvalidSubscription(f"{where}: {exc.message}") from None
    enabled = block.get("enabled", True)
    if not isinstance(enabled, bool):
        raise InvalidSubscription(f"{where}: 'enabled' must be true or false")
    return SubscriptionSpec(
        name=name, events=events or EVENTS, workflows=workflows, enabled=enabled,
        **_destination(block, where),
    )  # fmt: skip


def parse_subscriptions(blocks: Any) -> tuple[SubscriptionSpec, ...]:
    """Every ``[[subscriptions]]`` block; names must be unique."""
    if not isinstance(blocks, list):
        raise InvalidSubscription("'subscriptions' must be an array of tables: [[subscriptions]]")
    specs = tuple(parse_subscription(block, i) for i, block in enumerate(blocks))
    names = [s.name for s in specs]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise InvalidSubscription(f"subscription name(s) {duplicates} are used more than once")
    return specs
