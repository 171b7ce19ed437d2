"""Security at the door: hashed tokens, the brake on failed auth, and accounts kept apart."""

from __future__ import annotations

import hashlib
import re

import pytest

from pyflow_actors.client.api import AsyncClient
from pyflow_actors.config import EngineConfig, TokenSpec, load_config
from pyflow_actors.errors import AuthRateLimited, ConfigError
from service import create_app
from service.auth import configured_tokens
from service.auth_throttle import FailedAuthLimiter
from tests.fake_transport import FakeTransport

from .test_gateway import AppClient, assert_error

ACCOUNT, OTHER = "acme", "beta"
SECRET = "pf_a-long-random-secret"
HASHED = hashlib.sha256(SECRET.encode()).hexdigest()


def app_with(*tokens: TokenSpec):
    return create_app(
        AsyncClient(FakeTransport(("hello",))), EngineConfig(storage="/nonexistent"), tokens=tokens
    )


def test_a_token_stored_as_its_sha256_is_accepted_and_others_are_not(tmp_path):
    toml = tmp_path / "pyflow.toml"
    toml.write_text(f'[[tokens]]\ntoken_sha256 = "{HASHED}"\naccounts = ["{ACCOUNT}"]\n')
    (spec,) = configured_tokens(load_config(toml), {})
    assert spec.token == "" and spec.token_sha256 == HASHED
    api = AppClient(app_with(spec))
    url = f"/client/v4/accounts/{ACCOUNT}/workflows"
    assert api.get(url, headers={"Authorization": f"Bearer {SECRET}"}).status_code == 200
    wrong = api.get(url, headers={"Authorization": f"Bearer {HASHED}"})  # the hash is no token
    assert_error(wrong, 401, "auth.unauthorized")


@pytest.mark.parametrize(
    ("spec", "needle"),
    [
        (TokenSpec("t", ("a",), token_sha256=HASHED), "not both"),
        (TokenSpec("", ("a",)), "one of 'token' or 'token_sha256'"),
        (TokenSpec("", ("a",), token_sha256="abc"), "64 hexadecimal digits"),
    ],
)
def test_a_token_block_must_hold_exactly_one_valid_secret(spec, needle):
    with pytest.raises(ConfigError, match=re.escape(needle)):
        configured_tokens(EngineConfig(tokens=(spec,)), {})


def test_too_many_failed_authentications_from_one_address_are_a_429_envelope():
    api = AppClient(app_with(TokenSpec(SECRET, (ACCOUNT,))))
    url = f"/client/v4/accounts/{ACCOUNT}/workflows"
    bad = {"Authorization": "Bearer guess"}
    for _ in range(20):
        assert_error(api.get(url, headers=bad), 401, "auth.unauthorized")
    refused = api.get(url, headers=bad)
    error = assert_error(refused, 429, "auth.rate_limited")
    assert error["code"] == AuthRateLimited.numeric_code
    assert refused.headers["retry-after"]
    assert "retry in" in error["message"]
    # Refused before the token is looked at: even the right one waits out the window,
    # on every surface that takes a token.
    good = {"Authorization": f"Bearer {SECRET}"}
    assert api.get(url, headers=good).status_code == 429
    assert api.get("/metrics", headers=good).status_code == 429
    assert api.post("/client/v4/graphql", headers=good, json={"query": "{a}"}).status_code == 429


def test_the_limiter_counts_failures_per_address_over_a_sliding_window():
    now = [0.0]
    limiter = FailedAuthLimiter(max_failures=3, window=10.0, max_addresses=2, clock=lambda: now[0])
    for _ in range(3):
        limiter.check("a")
        limiter.failed("a")
    with pytest.raises(AuthRateLimited, match="retry in 10 seconds"):
        limiter.check("a")
    limiter.check("b")  # another address is not slowed
    now[0] = 10.5  # the failures left the window
    limiter.check("a")
    for address in ("x", "y", "z"):  # a flood of addresses: memory stays bounded
        limiter.failed(address)
    assert len(limiter._failures) == 2


def _fill(path: str, account: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: account if m[1] == "account_id" else "hello", path)


API = app_with(TokenSpec(SECRET, (ACCOUNT,)), TokenSpec("other-token", (OTHER,)))
# Every account route the gateway documents (its OpenAPI schema), each method.
SURFACES = [
    (method.upper(), path)
    for path, operations in API.openapi()["paths"].items()
    if "{account_id}" in path
    for method in operations
]


def test_every_account_surface_is_checked_below():
    paths = {path for _, path in SURFACES}
    for surface in ("/workflows", "/instances", "/event_subscriptions", "/queues", "/versions"):
        assert any(surface in p for p in paths), surface


@pytest.mark.parametrize(("method", "path"), sorted(SURFACES))
def test_a_token_never_reaches_another_accounts_surface(method, path):
    api = AppClient(API)
    theirs = {"Authorization": f"Bearer {SECRET}"}  # holds acme, not beta
    response = api.request(method, _fill(path, OTHER), headers=theirs, json={})
    assert_error(response, 403, "auth.forbidden")
    assert "hello" not in response.text  # nothing about what exists there
