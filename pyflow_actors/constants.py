"""Names and defaults shared across processes: one home for each.

The supervisor's actor name, how an instance actor is named, and the Ray
namespace are read by the runtime (which creates the actors) and by clients
(which find them); defining them here keeps both sides in step.
"""

from __future__ import annotations

SUPERVISOR_NAME = "pyflow-supervisor"
DEFAULT_NAMESPACE = "pyflow"


def actor_name(workflow: str, instance_id: str) -> str:
    """The Ray actor name of an instance: ``wf/<workflow>/<instance id>``."""
    return f"wf/{workflow}/{instance_id}"


# Defaults of the engine and the gateway, used by config, clients and the CLI.

DEFAULT_STORAGE = ".pyflow"
"""The storage folder (journals and registry) when none is configured, relative to the config."""

DEFAULT_HIBERNATE_AFTER = 5.0
"""Seconds: waits longer than this end the instance's process (it hibernates)."""

DEFAULT_HOST = "127.0.0.1"
"""The address the gateway listens on by default (loopback: no token needed)."""

DEFAULT_PORT = 8787
"""The gateway's default port (wrangler dev's)."""

DEFAULT_URL = f"http://{DEFAULT_HOST}:{DEFAULT_PORT}"
"""Where the CLI and the HTTP client look for the gateway by default."""

WIRE_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
"""Timestamps on the REST wire: ISO 8601 in UTC, microseconds, a ``Z`` (Cloudflare's shape)."""
