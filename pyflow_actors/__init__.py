"""pyflow-actors: durable workflows for Python on Ray, Cloudflare Workflows-compatible.

.. code-block:: python

    from pyflow_actors import WorkflowEntrypoint, start_local

    class Hello(WorkflowEntrypoint):
        async def run(self, event, step):
            return await step.do("greet")(lambda: f"hello {event['payload']}")

    with start_local(workflows={"hello": Hello}) as client:
        instance = client.workflow("hello").create(params="world")
        print(instance.wait())          # {"status": "complete", "output": "hello world", ...}
"""

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
from .models import InstanceStatus, InstanceStatusInfo

# Loaded on first use: instance actors import this package and must start fast.
_LAZY = {
    "AsyncClient": "pyflow_actors.client",
    "Client": "pyflow_actors.client",
    "LocalEngine": "pyflow_actors.runtime.local",
    "start_local": "pyflow_actors.runtime.local",
    "load_config": "pyflow_actors.config",
    "EngineConfig": "pyflow_actors.config",
    "WorkflowSpec": "pyflow_actors.config",
    "Request": "pyflow_actors.worker",
    "Response": "pyflow_actors.worker",
    "WorkerEntrypoint": "pyflow_actors.worker",
}


def __getattr__(name: str):
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
    "StepError",
    "StepTimeout",
    "ValidationError",
    "WaitForEventTimeout",
    "Request",
    "Response",
    "WorkerEntrypoint",
    "WorkflowEntrypoint",
    "WorkflowEvent",
    "WorkflowNotFound",
]
