"""``workers.workflows``: ``from workers.workflows import NonRetryableError``."""

from pyflow_workers_compat.workflows import NonRetryableError

__all__ = ["NonRetryableError"]
