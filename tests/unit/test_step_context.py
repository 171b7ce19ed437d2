"""The step context (``ctx``) and ``retries.delay`` given as a function, in the replay
engine without Ray (journal in memory, real short times)."""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import json
import time

import pytest

from pyflow_actors import WorkflowEntrypoint
from pyflow_actors.engine import Execution, MemoryJournal, Outcome, StepConfig
from pyflow_actors.engine.step_context import occurrence, step_arguments, step_context
from pyflow_actors.entrypoint import WorkflowEvent
from pyflow_actors.errors import InvalidStepConfig


def execute(workflow, journal=None, *, hibernate_after: float = 5.0) -> Outcome:
    journal = journal if journal is not None else MemoryJournal()
    event = WorkflowEvent(None, dt.datetime.now(dt.timezone.utc), "i-1", "wf")

    async def go() -> Outcome:
        execution = Execution(workflow, event, journal, hibernate_after=hibernate_after)
        return await asyncio.wait_for(execution.run(), timeout=10)

    return asyncio.run(go())


def gaps(journal: MemoryJournal, key: str) -> list[float]:
    attempts = journal.steps()[key].attempts
    return [b.started_at - a.ended_at for a, b in zip(attempts, attempts[1:], strict=False)]


# ---------------------------------------------------------------------------
# ctx


def test_a_step_declaring_ctx_gets_name_count_attempt_and_resolved_config():
    seen: list[dict] = []

    class W(WorkflowEntrypoint):
        async def run(self, event, step):
            for _ in range(2):

                @step.do("charge", config={"retries": {"limit": 2, "delay": 0}})
                def charge(ctx):
                    seen.append(ctx)
                    if ctx["step"]["count"] == 2 and ctx["attempt"] == 1:
                        raise ConnectionError("first try of the second charge fails")
                    return ctx["attempt"]

                await charge()
            return "done"

    assert execute(W()).kind == "complete"
    assert [(c["step"], c["attempt"]) for c in seen] == [
        ({"name": "charge", "count": 1}, 1),
        ({"name": "charge", "count": 2}, 1),
        ({"name": "charge", "count": 2}, 2),
    ]
    assert seen[0]["config"] == {
        "retries": {"limit": 2, "delay": "0 seconds", "backoff": "exponential"},
        "timeout": "10 minutes",
    }


def test_ctx_is_not_a_dependency_and_may_stand_anywhere():
    class W(WorkflowEntrypoint):
        async def run(self, event, step):
            @step.do("a")
            def a():
                return 1

            @step.do("b")
            async def b():
                return 2

            @step.do("first", depends=[a, b])
            def first(ctx, ra, rb):
                return [ctx["step"]["name"], ra, rb]

            @step.do("middle", depends=[a, b], concurrent=True)
            async def middle(ra, ctx, rb):
                return [ctx["attempt"], ra, rb]

            @step.do("keyword", depends=[a])
            def keyword(ra, *, ctx):
                return [ctx["step"]["count"], ra]

            return [
                await first(),
                await middle(),
                await keyword(),
                await step.do("plain")(lambda: 1),
            ]

    out = execute(W())
    assert out.kind == "complete", out.error
    assert json.loads(out.output) == [["first", 1, 2], [1, 1, 2], [1, 1], 1]


def test_occurrence_and_argument_binding_helpers():
    assert [occurrence("s", k) for k in ("s", "s-2", "s-10")] == [1, 2, 10]
    assert occurrence("v-2", "v-2") == 1
    ctx = step_context("s", "s-3", 4, StepConfig().to_json())
    assert ctx["step"] == {"name": "s", "count": 3} and ctx["attempt"] == 4
    assert step_arguments(lambda x, y: None, [1, 2], ctx) == ([1, 2], {})
    assert step_arguments(lambda x, ctx: None, [1], ctx) == ([1, ctx], {})
    assert step_arguments(print, [1], ctx) == ([1], {})  # no signature: as before


def test_ctx_is_found_behind_a_wrapper_and_in_every_parameter_kind():
    """The signature read from a function's code object (the fast path) finds ``ctx``
    wherever ``inspect.signature`` does, and a decorated step's ``ctx`` is its own."""
    ctx = step_context("s", "s", 1, StepConfig().to_json())

    def step_with_ctx(x, ctx):
        return x

    @functools.wraps(step_with_ctx)
    def decorated(*args, **kwargs):
        return step_with_ctx(*args, **kwargs)

    def keyword_only(x, *, ctx):
        return x

    def uses_ctx_as_a_local(x, **options):
        ctx = options
        return ctx

    assert step_arguments(decorated, [1], ctx) == ([1, ctx], {})
    assert step_arguments(keyword_only, [1], ctx) == ([1], {"ctx": ctx})
    assert step_arguments(uses_ctx_as_a_local, [1], ctx) == ([1], {})
    assert step_arguments(functools.partial(step_with_ctx, 1), [], ctx) == ([ctx], {})


# ---------------------------------------------------------------------------
# retries.delay as a function


def _flaky(fail_times: int):
    calls = {"n": 0}

    def work():
        calls["n"] += 1
        if calls["n"] <= fail_times:
            raise ConnectionError(f"attempt {calls['n']} failed")
        return calls["n"]

    return work


def test_a_delay_function_gets_the_failed_attempt_and_its_value_is_the_delay():
    asked: list[tuple[int, str, str]] = []

    def delay(attempt, error, ctx):
        asked.append((attempt, type(error).__name__, ctx["step"]["name"]))
        assert "delay" not in ctx["config"]["retries"]
        return 0.05 * attempt

    class W(WorkflowEntrypoint):
        async def run(self, event, step):
            cfg = {"retries": {"limit": 3, "delay": delay}}
            return await step.do("flaky", config=cfg)(_flaky(fail_times=3))

    journal = MemoryJournal()
    out = execute(W(), journal)
    assert out.kind == "complete" and out.output == "4"
    assert asked == [
        (1, "ConnectionError", "flaky"),
        (2, "ConnectionError", "flaky"),
        (3, "ConnectionError", "flaky"),
    ]
    for gap, want in zip(gaps(journal, "flaky"), [0.05, 0.1, 0.15], strict=True):
        assert want - 0.005 <= gap < want + 0.05
    config = json.loads(journal.steps()["flaky"].config)
    assert config["retries"] == {"limit": 3, "delay": "[dynamic]", "backoff": "constant"}


def test_an_explicit_backoff_scales_what_the_delay_function_returns():
    class W(WorkflowEntrypoint):
        async def run(self, event, step):
            cfg = {"retries": {"limit": 2, "delay": lambda: "0.05 seconds", "backoff": "linear"}}
            return await step.do("flaky", config=cfg)(_flaky(fail_times=2))

    journal = MemoryJournal()
    assert execute(W(), journal).kind == "complete"
    for gap, want in zip(gaps(journal, "flaky"), [0.05, 0.1], strict=True):
        assert want - 0.005 <= gap < want + 0.05


def test_an_async_delay_function_is_awaited():
    async def delay(attempt):
        await asyncio.sleep(0)
        return dt.timedelta(milliseconds=60)

    class W(WorkflowEntrypoint):
        async def run(self, event, step):
            return await step.do("flaky", config={"retries": {"limit": 1, "delay": delay}})(
                _flaky(fail_times=1)
            )

    journal = MemoryJournal()
    assert execute(W(), journal).kind == "complete"
    [gap] = gaps(journal, "flaky")
    assert 0.055 <= gap < 0.11


@pytest.mark.parametrize(
    ("delay", "message"),
    [
        (lambda: 1 / 0, "raised ZeroDivisionError"),
        (lambda: "soon", "'soon' is invalid"),
        (lambda: -1, "it must be zero or more"),
    ],
)
def test_a_failing_delay_function_fails_the_step_without_more_attempts(delay, message):
    work = _flaky(fail_times=5)

    class W(WorkflowEntrypoint):
        async def run(self, event, step):
            return await step.do("flaky", config={"retries": {"limit": 5, "delay": delay}})(work)

    journal = MemoryJournal()
    out = execute(W(), journal)
    assert out.kind == "errored" and out.error[0] == "RetryDelayFailed"
    assert message in out.error[1]
    record = journal.steps()["flaky"]
    assert record.state == "failed" and len(record.attempts) == 1


def test_a_long_delay_from_a_function_hibernates_and_is_asked_again_on_wake():
    asked: list[int] = []
    work = _flaky(fail_times=1)

    def delay(attempt):
        asked.append(attempt)
        return 0.3

    class W(WorkflowEntrypoint):
        async def run(self, event, step):
            return await step.do("flaky", config={"retries": {"limit": 1, "delay": delay}})(work)

    journal = MemoryJournal()
    first = execute(W(), journal, hibernate_after=0.1)
    assert first.kind == "hibernate"
    time.sleep(max(0.0, first.wake_at - time.time()))
    second = execute(W(), journal, hibernate_after=0.1)
    assert second.kind == "complete" and asked == [1, 1]


def test_a_delay_function_asking_for_unknown_arguments_is_refused_at_definition():
    with pytest.raises(InvalidStepConfig, match="asks for 'when'"):
        StepConfig.parse({"retries": {"delay": lambda when: 1}})
    StepConfig.parse({"retries": {"delay": lambda attempt, extra=2: 1}})  # a default is fine


def test_the_step_context_type_is_public_for_annotations():
    from pyflow_actors import StepContext

    ctx: StepContext = step_context("s", "s", 1, StepConfig().to_json())
    assert set(StepContext.__annotations__) == set(ctx) == {"step", "attempt", "config"}
