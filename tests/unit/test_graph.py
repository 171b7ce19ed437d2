"""The version graph of Python workflows (ast only): exact graphs, node type by node
type, over hand-written workflows (real ones: test_graph_workflows.py)."""

from __future__ import annotations

import textwrap
from typing import Any

from pyflow_actors.graph import graph_from_source

DEFAULT = {
    "retries": {"limit": 5, "delay": "10 seconds", "backoff": "exponential"},
    "timeout": "10 minutes",
}


def do(name: str, config: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"type": "step_do", "name": name, "config": config or DEFAULT, "nodes": []}


def sleep(name: str, duration: str) -> dict[str, Any]:
    return {"type": "step_sleep", "name": name, "duration": duration}


def wait(name: str, event_type: str, timeout: str = "24 hours") -> dict[str, Any]:
    return {
        "type": "step_wait_for_event",
        "name": name,
        "options": {"event_type": event_type, "timeout": timeout},
    }


def block(*nodes: dict[str, Any]) -> dict[str, Any]:
    return {"type": "block", "nodes": list(nodes)}


def run_body(body: str, *, prelude: str = "", methods: str = "") -> dict[str, Any]:
    """The workflow graph of a class whose run() has ``body``."""
    source = (
        "import asyncio\nimport datetime\n"
        + textwrap.dedent(prelude)
        + "\nclass W(WorkflowEntrypoint):\n    async def run(self, event, step):\n"
        + textwrap.indent(textwrap.dedent(body), " " * 8)
        + "\n"
        + textwrap.indent(textwrap.dedent(methods), " " * 4)
    )
    return graph_from_source(source, "W")["workflow"]


def nodes(body: str, **kwargs: str) -> list[dict[str, Any]]:
    return run_body(body, **kwargs)["nodes"]


# ---------------------------------------------------------------------------
# steps


def test_both_step_do_forms_with_their_resolved_config():
    assert nodes(
        """
        @step.do("fetch", config={"retries": {"limit": 2, "delay": 3000}, "timeout": "1 minute"})
        async def fetch():
            return 1

        await fetch()
        await step.do("call form")(lambda: 2)
        await step.do("two arguments", lambda: 3)
        """
    ) == [
        do(
            "fetch",
            {
                "retries": {"limit": 2, "delay": "3 seconds", "backoff": "exponential"},
                "timeout": "1 minute",
            },
        ),
        do("call form"),
        do("two arguments"),
    ]


def test_a_step_defined_but_never_run_is_not_drawn_and_f_strings_show_their_template():
    assert nodes(
        """
        @step.do("unused")
        def unused():
            return 0

        for item in event["payload"]:
            await step.do(f"item {item}")(lambda: item)
        """
    ) == [{"type": "loop", "nodes": [do("item {item}")]}]


def test_config_from_module_constants_and_a_delay_function():
    assert nodes(
        """
        await step.do("a", config=RETRY)(lambda: 1)
        await step.do("b", config={"retries": {"limit": 1, "delay": lambda attempt: attempt}})(f)
        await step.do("c", config={"timeout": self.timeout})(f)
        """,
        prelude='RETRY = {"retries": {"limit": 0, "delay": "1 minute", "backoff": "linear"}}',
    ) == [
        do(
            "a",
            {
                "retries": {"limit": 0, "delay": "1 minute", "backoff": "linear"},
                "timeout": "10 minutes",
            },
        ),
        do(
            "b",
            {
                "retries": {"limit": 1, "delay": "[dynamic]", "backoff": "constant"},
                "timeout": "10 minutes",
            },
        ),
        do("c", {**DEFAULT, "timeout": "self.timeout"}),
    ]


def test_sleeps_and_waits_with_durations_in_words():
    assert nodes(
        """
        await step.sleep("nap", 90)
        await step.sleep("long nap", "2 days")
        await step.sleep("delta", datetime.timedelta(hours=1))
        await step.sleep_until("alarm", 0)
        await step.sleepUntil("later", when)
        await step.wait_for_event("approval", "approved", timeout="1 hour")
        await step.waitForEvent("any", event_type="ping")
        """
    ) == [
        sleep("nap", "90 seconds"),
        sleep("long nap", "2 days"),
        sleep("delta", "1 hour"),
        {"type": "step_sleep_until", "name": "alarm", "timestamp": "1970-01-01T00:00:00Z"},
        {"type": "step_sleep_until", "name": "later", "timestamp": "when"},
        wait("approval", "approved", "1 hour"),
        wait("any", "ping"),
    ]


# ---------------------------------------------------------------------------
# parallel


def test_gather_depends_and_task_groups_are_parallel():
    assert nodes(
        """
        @step.do("a")
        async def a(): ...

        @step.do("b")
        async def b(): ...

        @step.do("join", depends=[a, b], concurrent=True)
        async def join(ra, rb): ...

        await join()
        await asyncio.gather(step.do("x")(f), step.do("y")(f), return_exceptions=True)
        done, _ = await asyncio.wait([step.do("p")(f), step.do("q")(f)], return_when=asyncio.FIRST_COMPLETED)
        async with asyncio.TaskGroup() as tg:
            tg.create_task(step.do("t1")(f))
            tg.create_task(step.sleep("t2", 1))
        """
    ) == [
        {"type": "parallel", "kind": "all", "nodes": [do("a"), do("b")]},
        do("join"),
        {"type": "parallel", "kind": "all_settled", "nodes": [do("x"), do("y")]},
        {"type": "parallel", "kind": "race", "nodes": [do("p"), do("q")]},
        {"type": "parallel", "kind": "all", "nodes": [do("t1"), sleep("t2", "1 second")]},
    ]


def test_a_dependency_that_already_ran_is_not_drawn_again_and_sequential_depends_stay_in_order():
    assert nodes(
        """
        @step.do("a")
        async def a(): ...

        @step.do("b")
        async def b(): ...

        await a()

        @step.do("join", depends=[a, b])
        async def join(ra, rb): ...

        await join()
        """
    ) == [do("a"), do("b"), do("join")]


def test_gather_over_a_comprehension_is_a_loop_inside_a_parallel():
    assert nodes(
        """
        await asyncio.gather(*[step.do(f"get {u}")(f) for u in urls])
        """
    ) == [
        {"type": "parallel", "kind": "all", "nodes": [{"type": "loop", "nodes": [do("get {u}")]}]}
    ]


# ---------------------------------------------------------------------------
# control flow


def test_if_elif_else_keeps_each_branch_and_drops_branches_without_steps():
    assert nodes(
        """
        if event["payload"]["vip"]:
            await step.do("vip")(f)
        elif event["payload"]["n"] > 3:
            await step.sleep("wait", 5)
        else:
            pass
        if debug:
            print("no steps here")
        """
    ) == [
        {
            "type": "if",
            "branches": [
                {"condition": "event['payload']['vip']", "nodes": [do("vip")]},
                {"condition": "event['payload']['n'] > 3", "nodes": [sleep("wait", "5 seconds")]},
                {"condition": None, "nodes": []},
            ],
        }
    ]


def test_loops_with_break_and_return():
    assert nodes(
        """
        while True:
            got = await step.wait_for_event("poll", "tick", timeout=60_000)
            if got["payload"] == "stop":
                break
            if got["payload"] == "abort":
                return None
        return "done"
        """
    ) == [
        {
            "type": "loop",
            "nodes": [
                wait("poll", "tick", "1 minute"),
                {
                    "type": "if",
                    "branches": [
                        {
                            "condition": "got['payload'] == 'stop'",
                            "nodes": [{"type": "break", "kind": "break"}],
                        }
                    ],
                },
                {
                    "type": "if",
                    "branches": [
                        {
                            "condition": "got['payload'] == 'abort'",
                            "nodes": [{"type": "break", "kind": "return"}],
                        }
                    ],
                },
            ],
        }
    ]


def test_match_is_a_switch_with_a_default_branch():
    assert nodes(
        """
        match event["payload"]["plan"]:
            case "free":
                await step.do("free")(f)
            case "pro" | "team" if seats > 1:
                await step.do("paid")(f)
            case _:
                await step.sleep("later", "1 hour")
        """
    ) == [
        {
            "type": "switch",
            "discriminant": "event['payload']['plan']",
            "branches": [
                {"condition": "'free'", "nodes": [do("free")]},
                {"condition": "'pro' | 'team' if seats > 1", "nodes": [do("paid")]},
                {"condition": None, "nodes": [sleep("later", "1 hour")]},
            ],
        }
    ]


def test_try_except_finally_and_several_handlers():
    assert nodes(
        """
        try:
            await step.do("charge")(f)
        except Exception:
            await step.do("refund")(f)
        finally:
            await step.do("receipt")(f)
        try:
            await step.do("ship")(f)
        except TimeoutError:
            await step.sleep("retry later", 60)
        except (KeyError, ValueError):
            pass
        """
    ) == [
        {
            "type": "try",
            "try_block": block(do("charge")),
            "catch_block": block(do("refund")),
            "finally_block": block(do("receipt")),
        },
        {
            "type": "try",
            "try_block": block(do("ship")),
            "catch_block": block(
                {
                    "type": "switch",
                    "discriminant": "exception",
                    "branches": [
                        {"condition": "TimeoutError", "nodes": [sleep("retry later", "1 minute")]},
                        {"condition": "(KeyError, ValueError)", "nodes": []},
                    ],
                }
            ),
            "finally_block": None,
        },
    ]


# ---------------------------------------------------------------------------
# functions


def test_calls_to_methods_and_local_functions_are_function_calls_with_one_definition():
    workflow = run_body(
        """
        def helper(n):
            return step.do(f"inner {n}")(f)

        await self.notify(step, "a")
        await self.notify(step, "b")
        await helper(1)
        await module_level(step)
        self.pure()
        """,
        prelude="""
        async def module_level(s):
            await s.sleep("module nap", 1)
        """,
        methods="""
        async def notify(self, steps, who):
            await steps.do("notify")(lambda: who)

        def pure(self):
            return 1
        """,
    )
    assert workflow["nodes"] == [
        {"type": "function_call", "name": "notify"},
        {"type": "function_call", "name": "notify"},
        {"type": "function_call", "name": "helper"},
        {"type": "function_call", "name": "module_level"},
    ]
    assert workflow["functions"] == {
        "helper": {"type": "function_def", "name": "helper", "nodes": [do("inner {n}")]},
        "module_level": {
            "type": "function_def",
            "name": "module_level",
            "nodes": [sleep("module nap", "1 second")],
        },
        "notify": {"type": "function_def", "name": "notify", "nodes": [do("notify")]},
    }


def test_a_recursive_function_is_drawn_once():
    workflow = run_body(
        "await self.countdown(step, 3)",
        methods="""
        async def countdown(self, step, n):
            if n:
                await step.sleep("tick", 1)
                await self.countdown(step, n - 1)
        """,
    )
    assert workflow["nodes"] == [{"type": "function_call", "name": "countdown"}]
    [branch] = workflow["functions"]["countdown"]["nodes"][0]["branches"]
    assert branch["nodes"] == [
        sleep("tick", "1 second"),
        {"type": "function_call", "name": "countdown"},
    ]


def test_payload_shape_follows_the_keys_the_code_reads():
    workflow = run_body(
        """
        p = event["payload"] or {}
        user = p["user"]
        await step.do("x")(lambda: (user["id"], user.get("email"), p.get("plan"), event.payload["n"]))
        """
    )
    assert workflow["payload"] == {
        "type": "object",
        "fields": {
            "n": {"type": "unknown"},
            "plan": {"type": "unknown"},
            "user": {
                "type": "object",
                "fields": {"email": {"type": "unknown"}, "id": {"type": "unknown"}},
            },
        },
    }
