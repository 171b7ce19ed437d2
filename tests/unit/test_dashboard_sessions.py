"""Dashboard sessions sealed in the cookie: they survive a gateway restart, are shared
by gateways on one storage folder, and are refused when forged, expired or revoked."""

from __future__ import annotations

import asyncio
import hashlib
import os
import stat
from pathlib import Path
from typing import Any

import httpx
import pytest

from pyflow_actors.client.api import AsyncClient
from pyflow_actors.config import EngineConfig, TokenSpec
from pyflow_actors.errors import Unauthorized
from service import create_app
from service.auth import TokenStore
from service.dash.secret import ENV_SECRET, KEY_FILE, session_key
from service.dash.sessions import COOKIE, SessionStore
from tests.fake_transport import FakeTransport

TOKEN, ACCOUNT = "session-token", "acme"
HOME = f"/dash/a/{ACCOUNT}"


def gateway(storage: Path, tokens: tuple[TokenSpec, ...] | None = None) -> Any:
    """A fresh gateway process's app (nothing shared with another but ``storage``)."""
    return create_app(
        AsyncClient(FakeTransport(("hello",))),
        EngineConfig(storage=storage),
        tokens=tokens or (TokenSpec(TOKEN, (ACCOUNT,)),),
    )


async def _get(app: Any, url: str, cookie: str | None) -> httpx.Response:
    transport = httpx.ASGITransport(app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
        headers = {"Cookie": f"{COOKIE}={cookie}"} if cookie is not None else {}
        return await client.get(url, headers=headers)


def get(app: Any, url: str, cookie: str | None) -> httpx.Response:
    return asyncio.run(_get(app, url, cookie))


def sign_in(app: Any, token: str = TOKEN) -> str:
    async def go() -> str:
        transport = httpx.ASGITransport(app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
            answer = await client.post("/dash/signin", data={"token": token})
            assert answer.status_code == 303, answer.text
            cookie = client.cookies.get(COOKIE)
            assert cookie
            return cookie

    return asyncio.run(go())


def signed_in(answer: httpx.Response) -> bool:
    if answer.status_code == 303:
        assert answer.headers["location"] == "/dash/signin"
        return False
    assert answer.status_code == 200, answer.text
    return True


def test_a_session_survives_a_gateway_restart_and_serves_another_gateway(tmp_path):
    cookie = sign_in(gateway(tmp_path))
    restarted, neighbour = gateway(tmp_path), gateway(tmp_path)
    assert signed_in(get(restarted, HOME, cookie))
    assert signed_in(get(neighbour, HOME, cookie))


def test_the_cookie_holds_neither_the_token_nor_its_digest(tmp_path):
    cookie = sign_in(gateway(tmp_path))
    digest = hashlib.sha256(TOKEN.encode()).hexdigest()
    assert TOKEN not in cookie and digest not in cookie
    assert TOKEN.encode() not in (tmp_path / KEY_FILE).read_bytes()


def test_a_tampered_or_foreign_cookie_gets_the_sign_in_page(tmp_path):
    cookie = sign_in(gateway(tmp_path))
    flipped = cookie[:40] + ("A" if cookie[40] != "A" else "B") + cookie[41:]
    foreign = sign_in(gateway(tmp_path / "elsewhere"))  # another storage: another key
    app = gateway(tmp_path)
    assert not signed_in(get(app, HOME, flipped))
    assert not signed_in(get(app, HOME, foreign))
    assert not signed_in(get(app, HOME, "not-a-session"))


def test_a_session_ends_when_its_token_is_no_longer_configured(tmp_path):
    cookie = sign_in(gateway(tmp_path))
    rotated = gateway(tmp_path, tokens=(TokenSpec("the-new-token", (ACCOUNT,)),))
    assert not signed_in(get(rotated, HOME, cookie))


def test_an_expired_session_is_refused(tmp_path, monkeypatch):
    store = SessionStore(
        TokenStore((TokenSpec(TOKEN, (ACCOUNT,)),)), session_key(EngineConfig(storage=tmp_path))
    )
    cookie = store.sign_in(TOKEN)
    assert store.get(cookie).accounts == (ACCOUNT,)
    later = store.get(cookie).expires_at + 1
    monkeypatch.setattr("service.dash.sessions.time.time", lambda: later)
    with pytest.raises(Unauthorized, match="expired"):
        store.get(cookie)


def test_the_secret_is_kept_private_and_made_once(tmp_path):
    first = session_key(EngineConfig(storage=tmp_path))
    again = session_key(EngineConfig(storage=tmp_path))
    mode = stat.S_IMODE(os.stat(tmp_path / KEY_FILE).st_mode)
    assert first == again and mode == 0o600
    assert [p.name for p in (tmp_path / KEY_FILE).parent.iterdir()] == ["session.key"]


def test_the_secret_from_the_environment_wins_and_a_bad_one_is_a_clear_error(tmp_path, monkeypatch):
    from cryptography.fernet import Fernet

    from pyflow_actors.errors import ConfigError

    key = Fernet.generate_key()
    monkeypatch.setenv(ENV_SECRET, key.decode())
    assert session_key(EngineConfig(storage=tmp_path)) == key
    assert not (tmp_path / KEY_FILE).exists()
    monkeypatch.setenv(ENV_SECRET, "short")
    with pytest.raises(ConfigError, match=ENV_SECRET):
        session_key(EngineConfig(storage=tmp_path))


def test_many_wrong_tokens_from_one_address_get_the_sign_in_page_with_429(tmp_path):
    from service.auth_throttle import MAX_FAILURES

    async def go() -> list[httpx.Response]:
        transport = httpx.ASGITransport(gateway(tmp_path))
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
            wrong = [
                await client.post("/dash/signin", data={"token": f"guess-{n}"})
                for n in range(MAX_FAILURES + 1)
            ]
            return [*wrong, await client.post("/dash/signin", data={"token": TOKEN})]

    answers = asyncio.run(go())
    assert [a.status_code for a in answers[:MAX_FAILURES]] == [401] * MAX_FAILURES
    assert answers[MAX_FAILURES].status_code == 429 and "failed authentications" in answers[-1].text
    assert answers[-1].status_code == 429  # even the right token waits out the window
    assert "Sign in" in answers[-1].text and COOKIE not in answers[-1].headers.get("set-cookie", "")
