"""``workers.workflows``: ``NonRetryableError`` (pyflow's own)."""

from __future__ import annotations

from pyflow_actors import NonRetryableError

__all__ = ["NonRetryableError"]
