"""Dashboard sessions: an API token exchanged for an encrypted cookie, and CSRF.

Signing in posts an API token once; the browser gets back an ``httponly``,
``SameSite=Strict`` cookie scoped to ``/dash`` that holds, encrypted and
authenticated with Fernet (AES-128-CBC and HMAC-SHA256, from ``cryptography``),
the token's SHA-256 (never the token), the session's CSRF token and its expiry.
The gateway keeps no session state: each request decrypts its cookie and looks
the digest up among the configured tokens again (a token removed from the
configuration ends its sessions). The key is the dashboard secret
(:mod:`.secret`), kept under the engine's storage folder, so sessions survive
a gateway restart and every gateway on that storage accepts them.
"""

from __future__ import annotations

import hmac
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from fastapi import Request

from pyflow_actors.config import TokenSpec
from pyflow_actors.errors import CsrfRejected, Unauthorized

from ..auth import TokenStore, token_digest
from .secret import session_key

COOKIE = "pyflow_dash"
COOKIE_PATH = "/dash"
SESSION_SECONDS = 12 * 3600
_SIGN_IN_AGAIN = "sign in to the dashboard with an API token"


@dataclass(frozen=True)
class DashSession:
    """One signed-in browser: the token it presented, its CSRF token, its expiry."""

    token: TokenSpec
    csrf: str
    expires_at: float

    @property
    def accounts(self) -> tuple[str, ...]:
        return tuple(self.token.accounts)


class SessionStore:
    """Seals sessions into cookie values and opens them again (no server-side state)."""

    def __init__(self, tokens: TokenStore, key: bytes, ttl: float = SESSION_SECONDS) -> None:
        self.tokens = tokens
        self.ttl = ttl
        self._fernet = Fernet(key)

    def sign_in(self, presented: str, client: str | None = None) -> str:
        """A sealed session for a valid API token; raises ``Unauthorized`` otherwise
        (failures from ``client`` count toward the gateway's brake on guessing)."""
        self.tokens.authenticate(f"Bearer {presented.strip()}", client)
        sealed = {
            "d": token_digest(presented.strip()).hex(),
            "c": secrets.token_urlsafe(32),
            "e": time.time() + self.ttl,
        }
        # Without base64's "=" padding: a cookie value holding "=" would be sent quoted.
        return self._fernet.encrypt(json.dumps(sealed).encode()).decode().rstrip("=")

    def get(self, cookie: str | None) -> DashSession:
        """The session sealed in ``cookie``; raises ``Unauthorized`` when it is missing,
        forged, made with another key, expired, or its token is no longer configured."""
        sealed = self._open(cookie)
        try:
            digest, csrf, expires_at = bytes.fromhex(sealed["d"]), sealed["c"], sealed["e"]
        except (KeyError, TypeError, ValueError):
            raise Unauthorized(_SIGN_IN_AGAIN) from None
        if not isinstance(csrf, str) or not isinstance(expires_at, (int, float)):
            raise Unauthorized(_SIGN_IN_AGAIN)
        if expires_at < time.time():
            raise Unauthorized("your dashboard session has expired: sign in again")
        return DashSession(self.tokens.match_digest(digest), csrf, float(expires_at))

    def _open(self, cookie: str | None) -> dict[str, Any]:
        if not cookie:
            raise Unauthorized(_SIGN_IN_AGAIN)
        try:
            # Fernet's own timestamp bounds the age too (a cookie whose payload lies).
            padded = cookie + "=" * (-len(cookie) % 4)
            plain = self._fernet.decrypt(padded.encode(), ttl=int(self.ttl) + 60)
            sealed = json.loads(plain)
        except (InvalidToken, ValueError, UnicodeError):
            raise Unauthorized(_SIGN_IN_AGAIN) from None
        if not isinstance(sealed, dict):
            raise Unauthorized(_SIGN_IN_AGAIN)
        return sealed


def session_store(request: Request) -> SessionStore:
    """The app's session store, made on first use from its API tokens and the
    dashboard secret under the engine's storage folder."""
    store: SessionStore | None = getattr(request.app.state, "dash_sessions", None)
    if store is None:
        store = SessionStore(request.app.state.tokens, session_key(request.app.state.config))
        request.app.state.dash_sessions = store
    return store


def current_session(request: Request) -> DashSession:
    """The request's session (from its cookie); raises ``Unauthorized`` without one."""
    return session_store(request).get(request.cookies.get(COOKIE))


def check_same_origin(request: Request) -> None:
    """Refuse a form posted from another origin (``Origin``/``Referer`` when sent)."""
    origin = request.headers.get("origin") or request.headers.get("referer")
    if origin is None:
        return  # SameSite=Strict already keeps the cookie off cross-site requests
    expected = f"{request.url.scheme}://{request.url.netloc}"
    if origin != expected and not origin.startswith(expected + "/"):
        raise CsrfRejected(f"form posted from another origin ({origin!r})")


def check_csrf(request: Request, session: DashSession, presented: str | None) -> None:
    """Refuse an action whose form does not carry the session's CSRF token."""
    check_same_origin(request)
    if not presented or not hmac.compare_digest(presented.encode(), session.csrf.encode()):
        raise CsrfRejected("the form's CSRF token is missing or stale: reload the page")
