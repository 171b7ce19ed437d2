"""Webhook signatures: ``X-Pyflow-Signature: sha256=<hex HMAC-SHA256 of the raw body>``.

A receiver checks the header against the exact bytes it received, before
parsing them:

.. code-block:: python

    from pyflow_actors.subscriptions import verify
    if not verify(SECRET, request_body_bytes, request.headers["X-Pyflow-Signature"]):
        return 401
"""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "X-Pyflow-Signature"
_PREFIX = "sha256="


def sign(secret: str, body: bytes) -> str:
    """The header value for ``body``: ``sha256=`` and the hex HMAC-SHA256 under ``secret``."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return _PREFIX + digest


def verify(secret: str, body: bytes, header: str | None) -> bool:
    """True if ``header`` is the signature of ``body`` under ``secret`` (constant time)."""
    if not header or not header.startswith(_PREFIX):
        return False
    return hmac.compare_digest(sign(secret, body).encode(), header.strip().encode())
