"""The step context and a retry-delay function on the real engine (instance actors),
seen through the official SDK: ctx reaches the step, the delay function paces the
retries, and the step's config shows the delay as ``[dynamic]``."""

from __future__ import annotations

import json

import pytest

from pyflow_actors import WorkflowEntrypoint
from pyflow_actors.config import WorkflowSpec
from tests.api.conftest import ACCOUNT, new_id
from tests.conftest import wait_for

pytestmark = pytest.mark.ray


def delay_for(attempt, error):
    assert type(error).__name__ == "ConnectionError"
    return 0.05 * attempt


class ContextAndDelay(WorkflowEntrypoint):
    async def run(self, event, step):
        @step.do("call", config={"retries": {"limit": 3, "delay": delay_for}})
        def call(ctx):
            if ctx["attempt"] < 3:
                raise ConnectionError(f"attempt {ctx['attempt']} failed")
            return {"step": ctx["step"], "attempt": ctx["attempt"], "config": ctx["config"]}

        first = await call()
        second = await step.do("call")(lambda ctx: ctx["step"]["count"])
        return {"first": first, "second": second}


def test_ctx_and_delay_function_on_the_engine(engine, cf):
    from pyflow_actors.runtime.local import start_local

    spec = WorkflowSpec.of("ctx-delay", ContextAndDelay)
    start_local(engine.config.with_workflows(spec)).client.close()  # registers it
    instance_id = new_id("ctx")
    cf.workflows.instances.create("ctx-delay", account_id=ACCOUNT, instance_id=instance_id)

    def got():
        return cf.workflows.instances.get(
            instance_id, account_id=ACCOUNT, workflow_name="ctx-delay"
        )

    wait_for(lambda: got().status in ("complete", "errored"), 60)
    instance = got()
    assert instance.status == "complete", instance.error
    assert instance.output == {
        "first": {
            "step": {"name": "call", "count": 1},
            "attempt": 3,
            "config": {"retries": {"limit": 3, "backoff": "constant"}, "timeout": "10 minutes"},
        },
        "second": 2,
    }
    first = instance.steps[0]
    assert first.config.retries.delay == "[dynamic]"
    assert [a.success for a in first.attempts] == [False, False, True]
    assert json.loads(first.output)["attempt"] == 3
