"""pyflow-actors: durable workflows for Python on Ray, Cloudflare Workflows-compatible.

.. code-block:: python

    from pyflow_actors import WorkflowEntrypoint, WorkflowEvent, WorkflowStep, start_local

    class Hello(WorkflowEntrypoint):
        async def run(self, event: WorkflowEvent, step: WorkflowStep) -> str:
            return await step.do("greet")(lambda: f"hello {event.payload}")

    with start_local(workflows={"hello": Hello}) as engine:
        instance = engine.client.workflow("hello").create(params="world")
        status = instance.wait()
        print(status.status, status.output)     # complete hello world

Everything a user imports is listed in ``__all__``; any other module is
internal and may change.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .entrypoint import Env, WorkflowEntrypoint, WorkflowEvent
from .errors import (
    InstanceAlreadyExists,
    InstanceNotFound,
    NonRetryableError,
    PyflowError,
    StepError,
    StepTimeout,
    ValidationError,
    WaitForEventTimeout,
    WorkflowNotFound,
)
from .statuses import InstanceStatus
from .step import RetryConfig, Step, StepConfig, WorkflowStep, WorkflowStepEvent

if TYPE_CHECKING:  # the lazy names below, for type checkers and editors
    from .client import AsyncClient, Client
    from .config import EngineConfig, WorkflowSpec, load_config
    from .models import InstanceStatusInfo
    from .runtime.local import LocalEngine, start_local

# Loaded on first use: instance actors import this package and must start fast.
_LAZY = {
    "AsyncClient": "pyflow_actors.client",
    "Client": "pyflow_actors.client",
    "LocalEngine": "pyflow_actors.runtime.local",
    "start_local": "pyflow_actors.runtime.local",
    "load_config": "pyflow_actors.config",
    "EngineConfig": "pyflow_actors.config",
    "InstanceStatusInfo": "pyflow_actors.models",
    "WorkflowSpec": "pyflow_actors.config",
    "StepContext": "pyflow_actors.engine.step_context",
    "VersionInfo": "pyflow_actors.versions",
    "Request": "pyflow_actors.worker",
    "Response": "pyflow_actors.worker",
    "WorkerEntrypoint": "pyflow_actors.worker",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'pyflow_actors' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)


__all__ = [
    "AsyncClient",
    "Client",
    "EngineConfig",
    "Env",
    "LocalEngine",
    "WorkflowSpec",
    "load_config",
    "start_local",
    "InstanceAlreadyExists",
    "InstanceNotFound",
    "InstanceStatus",
    "InstanceStatusInfo",
    "NonRetryableError",
    "PyflowError",
    "StepContext",
    "RetryConfig",
    "Step",
    "StepConfig",
    "StepError",
    "StepTimeout",
    "ValidationError",
    "VersionInfo",
    "WaitForEventTimeout",
    "Request",
    "Response",
    "WorkerEntrypoint",
    "WorkflowEntrypoint",
    "WorkflowEvent",
    "WorkflowNotFound",
    "WorkflowStep",
    "WorkflowStepEvent",
]
