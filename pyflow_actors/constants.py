"""Names and formats shared across rooms, defined once.

The supervisor, the instance actors, the clients, the CLI and the gateway all
find each other by these names; changing one here changes it everywhere.
This module imports nothing, so any layer may import it.
"""

from __future__ import annotations

SUPERVISOR_NAME = "pyflow-supervisor"
"""The Ray actor name of the supervisor (a detached, named actor)."""

DEFAULT_NAMESPACE = "pyflow"
"""The Ray namespace the engine's actors live in unless configured otherwise."""

DEFAULT_HOST = "127.0.0.1"
"""The address the gateway listens on by default (loopback: no token needed)."""

DEFAULT_PORT = 8787
"""The gateway's default port (wrangler dev's)."""

DEFAULT_URL = f"http://{DEFAULT_HOST}:{DEFAULT_PORT}"
"""Where the CLI and the HTTP client look for the gateway by default."""

DEFAULT_STORAGE = ".pyflow"
"""The storage folder (journals and registry) when none is configured, relative to the config."""

DEFAULT_HIBERNATE_AFTER = 5.0
"""Seconds: waits longer than this end the instance's process (it hibernates)."""

WIRE_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
"""Timestamps on the REST wire: ISO 8601 in UTC, microseconds, a ``Z`` (Cloudflare's shape)."""


def actor_name(workflow: str, instance_id: str) -> str:
    """The Ray actor name of an instance's actor.

    >>> actor_name("onboarding", "user-42")
    'wf/onboarding/user-42'
    """
    return f"wf/{workflow}/{instance_id}"


__all__ = [
    "DEFAULT_HIBERNATE_AFTER",
    "DEFAULT_HOST",
    "DEFAULT_NAMESPACE",
    "DEFAULT_PORT",
    "DEFAULT_STORAGE",
    "DEFAULT_URL",
    "SUPERVISOR_NAME",
    "WIRE_TIME_FORMAT",
    "actor_name",
]
