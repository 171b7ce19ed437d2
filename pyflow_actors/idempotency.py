"""Idempotency keys of control calls: a caller's own resend applied once.

Every control call (pause, resume, terminate, restart, and their ``from`` and
``rollback`` forms) carries a request id, written on the instance's registry row
with the change it applies; the same id sent again is answered with the current
status, not applied twice (``runtime/supervisor/control.py``). The Ray transport
makes one id per call. A caller that resends a call itself (an HTTP client
retrying a PATCH whose answer it lost) gives it an ``Idempotency-Key``: the id is
then made from the key and what the call asks for (:func:`control_request_id`),
so that the resend is the same call.

As Stripe's and the IETF draft's keys: one key names one request. Sent again with
another action (or another ``from`` or ``rollback``) on the instance it was last
used on, it is refused with :class:`~pyflow_actors.errors.IdempotencyKeyReused`
(409: the IETF draft says 422, which this gateway never answers), never applied as
the other call. Keys are scoped to the instance: the
same key on another instance is that instance's own call. Only the last control
of an instance is remembered: once another control was applied to it, a key
used before is a new call.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from .errors import IdempotencyKeyReused, InvalidIdempotencyKey

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255
_PREFIX = "key:"  # request ids made from a key: "key:<16 hex of the call>:<key>"
_CALL_HEX = 16


def validate_idempotency_key(key: str) -> str:
    """The key, or :class:`InvalidIdempotencyKey` saying what is allowed."""
    if not key or len(key) > MAX_KEY_LENGTH or not (key.isascii() and key.isprintable()):
        shown = key if len(key) <= 40 else key[:40] + "..."
        raise InvalidIdempotencyKey(
            f"{HEADER} {shown!r} is invalid: use 1 to {MAX_KEY_LENGTH} printable ASCII "
            "characters (a UUID is a good key)"
        )
    return key


def idempotency_header(key: str | None) -> dict[str, str]:
    """The header a control call sends its key in (none without a key)."""
    return {} if key is None else {HEADER: validate_idempotency_key(key)}


def control_request_id(
    key: str, action: str, restart_from: dict[str, Any] | None = None, rollback: bool = False
) -> str:
    """The request id of a control call sent with ``key``: the same for every send of
    the same call, another (with the same key) for another call."""
    call = json.dumps([action, restart_from, bool(rollback)], sort_keys=True)
    digest = hashlib.sha256(call.encode()).hexdigest()[:_CALL_HEX]
    return f"{_PREFIX}{digest}:{validate_idempotency_key(key)}"


def request_scope(request_id: str) -> str:
    """What sends of one call share: the key of an id made from a key, else the id."""
    if request_id.startswith(_PREFIX):
        return request_id[len(_PREFIX) + _CALL_HEX + 1 :]
    return request_id


def refuse_key_reuse(last: str | None, request_id: str | None) -> None:
    """:class:`IdempotencyKeyReused` if ``request_id`` was made from the key of
    ``last`` (the instance's last control) for another call."""
    if last is None or request_id is None or last == request_id:
        return
    if last.startswith(_PREFIX) and request_id.startswith(_PREFIX):
        key = request_scope(request_id)
        if request_scope(last) == key:
            raise IdempotencyKeyReused(
                f"{HEADER} {key!r} was used for another control of this instance: "
                "send a new key for a new call"
            )
