"""Dashboard sessions: an API token exchanged for an httponly cookie, and CSRF.

Signing in posts an API token once; the dashboard keeps it server-side under a
random session id and answers with that id in an ``httponly``,
``SameSite=Strict`` cookie scoped to ``/dash`` (the token never travels in a
URL nor reaches the page's JavaScript). Each session carries its own CSRF
token, which every form that acts repeats in a hidden field. Sessions live in
the gateway's memory: a restarted gateway asks to sign in again.
"""

from __future__ import annotations

import hmac
import secrets
import time
from dataclasses import dataclass, field

from fastapi import Request

from pyflow_actors.config import TokenSpec
from pyflow_actors.errors import CsrfRejected, Unauthorized

from ..auth import TokenStore

COOKIE = "pyflow_dash"
COOKIE_PATH = "/dash"
SESSION_SECONDS = 12 * 3600
MAX_SESSIONS = 10_000


@dataclass(frozen=True)
class DashSession:
    """One signed-in browser: the token it presented, its CSRF token, its expiry."""

    token: TokenSpec
    csrf: str
    expires_at: float

    @property
    def accounts(self) -> tuple[str, ...]:
        return tuple(self.token.accounts)


@dataclass
class SessionStore:
    """Session id -> :class:`DashSession`, in memory; expired ones are dropped."""

    tokens: TokenStore
    ttl: float = SESSION_SECONDS
    _sessions: dict[str, DashSession] = field(default_factory=dict)

    def sign_in(self, presented: str) -> str:
        """A new session id for a valid API token; raises ``Unauthorized`` otherwise."""
        spec = self.tokens.authenticate(f"Bearer {presented.strip()}")
        self._expire()
        session_id = secrets.token_urlsafe(32)
        now = time.time()
        self._sessions[session_id] = DashSession(spec, secrets.token_urlsafe(32), now + self.ttl)
        return session_id

    def get(self, session_id: str | None) -> DashSession:
        """The live session of ``session_id``; raises ``Unauthorized`` when there is none."""
        session = self._sessions.get(session_id or "")
        if session is None or session.expires_at < time.time():
            raise Unauthorized("sign in to the dashboard with an API token")
        return session

    def sign_out(self, session_id: str | None) -> None:
        self._sessions.pop(session_id or "", None)

    def _expire(self) -> None:
        now = time.time()
        for key in [k for k, s in self._sessions.items() if s.expires_at < now]:
            del self._sessions[key]
        while len(self._sessions) >= MAX_SESSIONS:  # oldest first (dicts keep insertion order)
            del self._sessions[next(iter(self._sessions))]


def session_store(request: Request) -> SessionStore:
    """The app's session store, made on first use from its API tokens."""
    store: SessionStore | None = getattr(request.app.state, "dash_sessions", None)
    if store is None:
        store = SessionStore(request.app.state.tokens)
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
