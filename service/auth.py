"""Bearer API tokens, each allowed on a set of account ids.

Tokens come from ``pyflow.toml``:

.. code-block:: toml

    [[tokens]]
    name = "ci"                      # optional, for humans
    token = "s3cr3t-token"
    accounts = ["acme", "staging"]   # account ids the token may use

or, for the simple case, from the environment: ``PYFLOW_TOKEN`` (one token)
for ``PYFLOW_ACCOUNT`` (one account, ``local`` when unset).

Accounts are an authorization scope, not separate data: the engine has one set
of workflows, reachable under every account id a token holds. A request without
a valid token is refused with 401; a valid token used on an account it does not
hold with 403, before anything about the account's workflows is looked at.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import secrets
from collections.abc import Mapping

from fastapi import Path, Request

from pyflow_actors.config import EngineConfig, TokenSpec
from pyflow_actors.errors import ConfigError, Forbidden, Unauthorized

DEFAULT_ACCOUNT = "local"


def default_account(environ: Mapping[str, str] | None = None) -> str:
    """The account id used when none is given: ``PYFLOW_ACCOUNT`` or ``local``."""
    environ = os.environ if environ is None else environ
    return environ.get("PYFLOW_ACCOUNT") or DEFAULT_ACCOUNT


def configured_tokens(
    config: EngineConfig, environ: Mapping[str, str] | None = None
) -> tuple[TokenSpec, ...]:
    """Tokens from the config file plus ``PYFLOW_TOKEN``/``PYFLOW_ACCOUNT``."""
    environ = os.environ if environ is None else environ
    tokens = list(config.tokens)
    for spec in tokens:
        if not spec.token or not spec.accounts:
            label = spec.name or "a [[tokens]] block"
            raise ConfigError(f"{label} needs a non-empty 'token' and at least one account")
    if environ.get("PYFLOW_TOKEN"):
        tokens.append(
            TokenSpec(
                token=environ["PYFLOW_TOKEN"],
                accounts=(default_account(environ),),
                name="PYFLOW_TOKEN",
            )
        )
    return tuple(tokens)


def generate_token(account: str) -> TokenSpec:
    """A fresh random token for one account (``pyflow dev`` without configured tokens)."""
    return TokenSpec(token="pf_" + secrets.token_urlsafe(32), accounts=(account,), name="generated")


def is_loopback(host: str) -> bool:
    if host in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, configured: tuple[TokenSpec, ...]) -> None:
    """Refuse to serve beyond loopback unless tokens are configured (not generated)."""
    if not is_loopback(host) and not configured:
        raise ConfigError(
            f"refusing to listen on {host}: without configured API tokens the gateway only "
            "binds to 127.0.0.1. Add [[tokens]] to pyflow.toml or set PYFLOW_TOKEN"
        )


class TokenStore:
    """Checks ``Authorization: Bearer <token>`` against the account in the path."""

    def __init__(self, tokens: tuple[TokenSpec, ...]) -> None:
        if not tokens:
            raise ConfigError(
                "the gateway needs at least one API token: add [[tokens]] to pyflow.toml "
                "or set PYFLOW_TOKEN (and PYFLOW_ACCOUNT)"
            )
        self._tokens = tokens

    def authorize(self, authorization: str | None, account: str) -> TokenSpec:
        match = self.authenticate(authorization)
        if account not in match.accounts:
            raise Forbidden(f"this API token is not allowed on account {account!r}")
        return match

    def authenticate(self, authorization: str | None) -> TokenSpec:
        """The token presented, whatever account it holds (GraphQL, /metrics)."""
        scheme, _, presented = (authorization or "").partition(" ")
        presented = presented.strip()
        if scheme.lower() != "bearer" or not presented:
            raise Unauthorized("missing API token: send 'Authorization: Bearer <token>'")
        # Compare against every token (constant time each) so that timing says nothing.
        match = None
        for spec in self._tokens:
            if hmac.compare_digest(spec.token.encode(), presented.encode()):
                match = spec
        if match is None:
            raise Unauthorized("invalid API token")
        return match


async def require_token(
    request: Request,
    # Declared (not only read from the path) so that the OpenAPI schema names it.
    account_id: str = Path(description="the account id the token must be scoped to"),
) -> TokenSpec:
    """FastAPI dependency: runs before any other parameter of an account route is read."""
    store: TokenStore = request.app.state.tokens
    return store.authorize(request.headers.get("authorization"), account_id)
