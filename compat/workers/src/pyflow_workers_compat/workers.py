"""``workers`` under an explicit name: works even where a real ``workers`` is installed."""

from __future__ import annotations

from pyflow_actors import WorkflowEntrypoint
from pyflow_actors.worker import (
    ExecutionContext,
    Headers,
    Request,
    Response,
    ScheduledEvent,
    WorkerEntrypoint,
)

from .rpc import handler, python_from_rpc, python_to_rpc
from .workflows import NonRetryableError

__all__ = [
    "ExecutionContext",
    "Headers",
    "NonRetryableError",
    "Request",
    "Response",
    "ScheduledEvent",
    "WorkerEntrypoint",
    "WorkflowEntrypoint",
    "handler",
    "python_from_rpc",
    "python_to_rpc",
]
