"""Clients: one API, two transports (Ray handle calls, or HTTP through the gateway)."""

from .api import AsyncClient, AsyncInstance, AsyncWorkflow, Client, Instance, Workflow
from .transport import ControlAction, Transport

__all__ = [
    "AsyncClient",
    "AsyncInstance",
    "AsyncWorkflow",
    "Client",
    "ControlAction",
    "Instance",
    "Transport",
    "Workflow",
]
