"""Test workflows fast: the in-process harness with a virtual clock, and its pytest plugin.

.. code-block:: python

    import pytest

    pytestmark = pytest.mark.anyio

    async def test_onboarding_completes_after_approval(workflow_harness):
        workflow_harness.mock_event("approved", {"by": "ops"})
        run = await workflow_harness.start(Onboarding, params={"email": "ada@example.com"})
        status = await run.wait_for_status("complete")      # sleeps skipped: milliseconds
        assert status.output["approved_by"] == "ops"

Installing pyflow-actors registers the plugin (a ``pytest11`` entry point):
the ``workflow_harness`` fixture is there in every test suite.
"""

from __future__ import annotations

import importlib
from typing import Any

# Loaded on first use: pytest imports the plugin module of this package in
# every test session, and that must stay cheap.
_LAZY = {
    "HarnessBinding": "pyflow_actors.testing.harness",
    "WorkflowHarness": "pyflow_actors.testing.harness",
    "HarnessRun": "pyflow_actors.testing.run",
    "RayHarness": "pyflow_actors.testing.ray_engine",
    "VirtualClock": "pyflow_actors.engine.clock",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'pyflow_actors.testing' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


__all__ = ["HarnessBinding", "HarnessRun", "RayHarness", "VirtualClock", "WorkflowHarness"]
