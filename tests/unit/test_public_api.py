"""The public API, pinned: every exported name and the signatures users call.

A change to any of them breaks user code, so it must be a decision: update
the expectation here in the same commit, and say so in the changelog.
(Temporal's tests/test_workflow_exports.py is the model.)
"""

from __future__ import annotations

import asyncio
import inspect
import subprocess
import sys
import typing
from collections.abc import Callable
from typing import Any

import pytest

import pyflow_actors
from pyflow_actors.client import api
from pyflow_actors.engine.replay import ReplayStep
from tests.fake_transport import FakeTransport

EXPORTS = [
    "AsyncClient",
    "Client",
    "EngineConfig",
    "Env",
    "InstanceAlreadyExists",
    "InstanceNotFound",
    "InstanceStatus",
    "InstanceStatusInfo",
    "LocalEngine",
    "NonRetryableError",
    "PyflowError",
    "Request",
    "Response",
    "RetryConfig",
    "Step",
    "StepConfig",
    "StepContext",
    "StepError",
    "StepTimeout",
    "ValidationError",
    "VersionInfo",
    "WaitForEventTimeout",
    "WorkerEntrypoint",
    "WorkflowEntrypoint",
    "WorkflowEvent",
    "WorkflowNotFound",
    "WorkflowSpec",
    "WorkflowStep",
    "WorkflowStepEvent",
    "load_config",
    "start_local",
]

STEP_OPTIONS = (
    "*, depends: 'Iterable[Step[Any]]' = (), concurrent: 'bool' = False, "
    "config: 'StepConfig | None' = None, rollback: 'Callable[..., Any] | None' = None, "
    "rollback_config: 'StepConfig | None' = None"
)
CONNECT = (
    "(url: 'str | None' = None, token: 'str | None' = None, *, account: 'str | None' = None, "
    "address: 'str | None' = None, namespace: 'str' = 'pyflow')"
)

# What users call, as inspect.signature prints it (annotations are strings).
SIGNATURES: dict[str, tuple[Callable[..., Any], str]] = {
    "WorkflowEntrypoint.run": (
        pyflow_actors.WorkflowEntrypoint.run,
        "(self, event: 'WorkflowEvent', step: 'WorkflowStep') -> 'Any'",
    ),
    "WorkflowStep.do": (
        pyflow_actors.WorkflowStep.do,
        f"(self, name: 'str', fn: 'Callable[..., Any] | None' = None, {STEP_OPTIONS})"
        " -> 'StepDecorator | Step[Any]'",
    ),
    "WorkflowStep.sleep": (
        pyflow_actors.WorkflowStep.sleep,
        "(self, name: 'str', duration: 'Duration') -> 'None'",
    ),
    "WorkflowStep.sleep_until": (
        pyflow_actors.WorkflowStep.sleep_until,
        "(self, name: 'str', timestamp: '_dt.datetime | float') -> 'None'",
    ),
    "WorkflowStep.wait_for_event": (
        pyflow_actors.WorkflowStep.wait_for_event,
        "(self, name: 'str', event_type: 'str', timeout: 'Duration' = '24 hours')"
        " -> 'WorkflowStepEvent'",
    ),
    "NonRetryableError": (
        pyflow_actors.NonRetryableError,
        "(message: 'str' = '', name: 'str | None' = None) -> 'None'",
    ),
    "Client.connect": (pyflow_actors.Client.connect, f"{CONNECT} -> 'Client'"),
    "AsyncClient.connect": (pyflow_actors.AsyncClient.connect, f"{CONNECT} -> 'AsyncClient'"),
    "Client.workflow": (pyflow_actors.Client.workflow, "(self, name: 'str') -> 'Workflow'"),
    "AsyncClient.workflow": (
        pyflow_actors.AsyncClient.workflow,
        "(self, name: 'str') -> 'AsyncWorkflow'",
    ),
}
for _prefix, _binding in (("", api.Workflow), ("Async", api.AsyncWorkflow)):
    SIGNATURES |= {
        f"{_prefix}Workflow.create": (
            _binding.create,
            "(self, options: 'Mapping[str, Any] | None' = None, *, id: 'str | None' = None, "
            f"params: 'Any' = None) -> '{_prefix}Instance'",
        ),
        f"{_prefix}Workflow.create_batch": (
            _binding.create_batch,
            "(self, batch: 'Iterable[Any] | Mapping[str, Any]')"
            f" -> 'list[{_prefix}Instance] | {_prefix}BatchCreated'",
        ),
        f"{_prefix}Workflow.get": (_binding.get, f"(self, id: 'str') -> '{_prefix}Instance'"),
    }
_handles: tuple[tuple[str, type[api.Instance] | type[api.AsyncInstance]], ...] = (
    ("", api.Instance),
    ("Async", api.AsyncInstance),
)
for _prefix, _handle in _handles:
    SIGNATURES |= {
        f"{_prefix}Instance.status": (_handle.status, "(self) -> 'InstanceStatusInfo'"),
        **{
            f"{_prefix}Instance.{name}": (
                getattr(_handle, name),
                "(self, *, idempotency_key: 'str | None' = None) -> 'None'",
            )
            for name in ("pause", "resume")
        },
        f"{_prefix}Instance.terminate": (
            _handle.terminate,
            "(self, options: 'Mapping[str, Any] | None' = None, *, rollback: 'bool' = False, "
            "idempotency_key: 'str | None' = None) -> 'None'",
        ),
        f"{_prefix}Instance.restart": (
            _handle.restart,
            "(self, options: 'Mapping[str, Any] | None' = None, *, from_: 'Any' = None, "
            "idempotency_key: 'str | None' = None) -> 'None'",
        ),
        f"{_prefix}Instance.send_event": (
            _handle.send_event,
            "(self, type: 'Any', payload: 'Any' = UNSET) -> 'None'",
        ),
    }

# Called with await (the rest are plain calls).
ASYNC = {
    "WorkflowEntrypoint.run",
    "WorkflowStep.sleep",
    "WorkflowStep.sleep_until",
    "WorkflowStep.wait_for_event",
    "AsyncClient.connect",
    *(name for name in SIGNATURES if name.startswith("Async") and "workflow" not in name),
}


def test_the_exported_names_are_exactly_the_public_api() -> None:
    assert sorted(pyflow_actors.__all__) == EXPORTS
    assert len(pyflow_actors.__all__) == len(set(pyflow_actors.__all__))


def test_every_exported_name_resolves() -> None:
    for name in EXPORTS:
        assert getattr(pyflow_actors, name) is not None, name


@pytest.mark.parametrize("name", sorted(SIGNATURES))
def test_the_signatures_users_call_are_pinned(name: str) -> None:
    function, expected = SIGNATURES[name]
    assert str(inspect.signature(function)) == expected


@pytest.mark.parametrize("name", sorted(SIGNATURES))
def test_async_methods_are_awaited_and_sync_methods_are_not(name: str) -> None:
    function, _ = SIGNATURES[name]
    assert inspect.iscoroutinefunction(function) is (name in ASYNC)


def test_step_do_keeps_its_three_forms() -> None:
    if sys.version_info < (3, 11):
        # Python 3.10 cannot list a function's overloads; the signature tests above
        # still pin do() there. CI and this machine run 3.11, where this runs.
        pytest.skip("typing.get_overloads is Python 3.11+")
    forms = [str(inspect.signature(f)) for f in typing.get_overloads(pyflow_actors.WorkflowStep.do)]
    assert forms == [
        f"(self, name: 'str', fn: 'None' = None, {STEP_OPTIONS}) -> 'StepDecorator'",
        f"(self, name: 'str', fn: 'Callable[..., Awaitable[T]]', {STEP_OPTIONS}) -> 'Step[T]'",
        f"(self, name: 'str', fn: 'Callable[..., T]', {STEP_OPTIONS}) -> 'Step[T]'",
    ]


@pytest.mark.parametrize("method", ["do", "sleep", "sleep_until", "wait_for_event"])
def test_the_engine_step_takes_exactly_the_interface_parameters(method: str) -> None:
    interface = inspect.signature(getattr(pyflow_actors.WorkflowStep, method), eval_str=True)
    engine = inspect.signature(getattr(ReplayStep, method), eval_str=True)
    assert engine.parameters == interface.parameters
    assert pyflow_actors.WorkflowStep in ReplayStep.__mro__


def test_the_step_config_dicts_take_cloudflares_keys() -> None:
    assert pyflow_actors.StepConfig.__optional_keys__ == {"retries", "timeout"}
    assert pyflow_actors.RetryConfig.__optional_keys__ == {"limit", "delay", "backoff"}
    assert pyflow_actors.WorkflowStepEvent.__required_keys__ == {"type", "payload", "timestamp"}


def test_the_event_has_typed_attributes_in_both_spellings() -> None:
    properties = {
        name
        for name, value in vars(pyflow_actors.WorkflowEvent).items()
        if isinstance(value, property)
    }
    assert properties == {
        "payload",
        "timestamp",
        "instance_id",
        "instanceId",
        "workflow_name",
        "workflowName",
        "schedule",
    }


def test_instance_handles_carry_their_id() -> None:
    client = pyflow_actors.Client.from_transport(FakeTransport())
    try:
        assert client.workflow("hello").create(id="order-7").id == "order-7"
        assert client.workflow("hello").get("order-7").id == "order-7"
    finally:
        client.close()

    async def create_and_get() -> tuple[str, str]:
        workflow = pyflow_actors.AsyncClient(FakeTransport()).workflow("hello")
        created = await workflow.create(id="order-8")
        return created.id, (await workflow.get("order-8")).id

    assert asyncio.run(create_and_get()) == ("order-8", "order-8")


def test_importing_the_sdk_loads_no_ray_duckdb_or_web_stack() -> None:
    # Instance actors import the package on start, and an editor imports
    # pyflow_actors.step to complete `step.`: both must stay light.
    code = (
        "import sys, pyflow_actors, pyflow_actors.step\n"
        "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    heavy = {"ray", "duckdb", "fastapi", "starlette", "uvicorn", "httpx", "typer", "rich"}
    assert not set(done.stdout.split()) & heavy
