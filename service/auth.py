"""Bearer API tokens, each allowed on a set of account ids.

Tokens come from ``pyflow.toml``:

.. code-block:: toml

    [[tokens]]
    name = "ci"                      # optional, for humans
    token = "s3cr3t-token"           # or token_sha256 = "<hex SHA-256 of the token>"
    accounts = ["acme", "staging"]   # account ids the token may use

or, for the simple case, from the environment: ``PYFLOW_TOKEN`` (one token)
for ``PYFLOW_ACCOUNT`` (one account, ``local`` when unset).

Accounts are an authorization scope, not separate data: the engine has one set
of workflows, reachable under every account id a token holds. A request without
a valid token is refused with 401; a valid token used on an account it does not
hold with 403, before anything about the account's workflows is looked at.

Presented tokens are hashed (SHA-256) and compared with every known token's
hash in constant time, so neither the answer's timing nor a stored
``token_sha256`` says anything about a token. Failed authentications are
counted per client address (``auth_throttle.py``): too many is a 429.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
import re
import secrets
from collections.abc import Mapping

from fastapi import Path, Request

from pyflow_actors.config import EngineConfig, TokenSpec
from pyflow_actors.errors import ConfigError, Forbidden, Unauthorized

from .auth_throttle import FailedAuthLimiter

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
        label = spec.name or "a [[tokens]] block"
        if bool(spec.token) == bool(spec.token_sha256) or not spec.accounts:
            raise ConfigError(
                f"{label} needs one of 'token' or 'token_sha256' (not both) and at least one account"
            )
        if spec.token_sha256 and not _SHA256_HEX.fullmatch(spec.token_sha256):
            raise ConfigError(
                f"{label}: token_sha256 must be 64 hexadecimal digits, e.g. the output of "
                '`printf %s "$TOKEN" | sha256sum`'
            )
    if environ.get("PYFLOW_TOKEN"):
        tokens.append(
            TokenSpec(
                token=environ["PYFLOW_TOKEN"],
                accounts=(default_account(environ),),
                name="PYFLOW_TOKEN",
            )
        )
    return tuple(tokens)


_SHA256_HEX = re.compile(r"[0-9a-fA-F]{64}")


def token_digest(token: str) -> bytes:
    """The SHA-256 of a token: what ``token_sha256`` holds (in hex)."""
    return hashlib.sha256(token.encode()).digest()


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

    def __init__(
        self, tokens: tuple[TokenSpec, ...], limiter: FailedAuthLimiter | None = None
    ) -> None:
        if not tokens:
            raise ConfigError(
                "the gateway needs at least one API token: add [[tokens]] to pyflow.toml "
                "or set PYFLOW_TOKEN (and PYFLOW_ACCOUNT)"
            )
        self._tokens = tokens
        self._digests = [
            bytes.fromhex(spec.token_sha256) if spec.token_sha256 else token_digest(spec.token)
            for spec in tokens
        ]
        self.limiter = limiter or FailedAuthLimiter()

    def authorize(
        self, authorization: str | None, account: str, client: str | None = None
    ) -> TokenSpec:
        match = self.authenticate(authorization, client)
        if account not in match.accounts:
            raise Forbidden(f"this API token is not allowed on account {account!r}")
        return match

    def authenticate(self, authorization: str | None, client: str | None = None) -> TokenSpec:
        """The token presented, whatever account it holds (GraphQL, /metrics).

        ``client``: the caller's address, whose failures are counted (429 when
        too many)."""
        if client is not None:
            self.limiter.check(client)
        try:
            return self._match(authorization)
        except Unauthorized:
            if client is not None:
                self.limiter.failed(client)
            raise

    def match_digest(self, digest: bytes) -> TokenSpec:
        """The configured token whose SHA-256 is ``digest`` (a dashboard session holds
        the digest, never the token); raises ``Unauthorized`` when none is."""
        # Compare hashes (fixed length) with every token, constant time each:
        # timing says nothing about which token, or how much of one, matched.
        match = None
        for spec, known in zip(self._tokens, self._digests, strict=True):
            if hmac.compare_digest(known, digest):
                match = spec
        if match is None:
            raise Unauthorized("this API token is no longer configured: sign in again")
        return match

    def _match(self, authorization: str | None) -> TokenSpec:
        scheme, _, presented = (authorization or "").partition(" ")
        presented = presented.strip()
        if scheme.lower() != "bearer" or not presented:
            raise Unauthorized("missing API token: send 'Authorization: Bearer <token>'")
        try:
            return self.match_digest(token_digest(presented))
        except Unauthorized:
            raise Unauthorized("invalid API token") from None


def client_address(request: Request) -> str:
    """The caller's address, as the server saw it (behind a proxy: the proxy's)."""
    return request.client.host if request.client is not None else "unknown"


def authenticate_request(request: Request) -> TokenSpec:
    """The request's token, any account (GraphQL, /metrics); failures are counted."""
    store: TokenStore = request.app.state.tokens
    return store.authenticate(request.headers.get("authorization"), client_address(request))


async def require_token(
    request: Request,
    # Declared (not only read from the path) so that the OpenAPI schema names it.
    account_id: str = Path(description="the account id the token must be scoped to"),
) -> TokenSpec:
    """FastAPI dependency: runs before any other parameter of an account route is read."""
    store: TokenStore = request.app.state.tokens
    return store.authorize(
        request.headers.get("authorization"), account_id, client_address(request)
    )
