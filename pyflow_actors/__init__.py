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

__all__ = [
    "Env",
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
    "WorkflowEntrypoint",
    "WorkflowEvent",
    "WorkflowNotFound",
]
