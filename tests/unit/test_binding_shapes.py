"""The shapes of Cloudflare's Python binding calls work on our client; wrong ones fail fast."""

from __future__ import annotations

import asyncio

import pytest

from pyflow_actors import WorkflowEntrypoint
from pyflow_actors.client.api import AsyncWorkflow
from pyflow_actors.engine import MemoryJournal
from pyflow_actors.entrypoint import Env
from pyflow_actors.errors import InvalidBindingCall, NonRetryableError, ValidationError
from pyflow_actors.serialization import loads
from tests.fake_transport import FakeTransport
from tests.unit.test_replay import execute


def run(coro):
    return asyncio.run(coro)


@pytest.fixture
def binding() -> AsyncWorkflow:
    return AsyncWorkflow(FakeTransport(("hello",)), "hello")


def test_create_takes_cloudflares_options_dict_and_keywords(binding) -> None:
    by_dict = run(binding.create({"id": "from-dict", "params": {"n": 1}}))
    by_keywords = run(binding.create(id="from-keywords", params={"n": 2}))
    generated = run(binding.create())
    assert (by_dict.id, by_keywords.id) == ("from-dict", "from-keywords")
    assert generated.id
    assert binding._t.params[("hello", "from-dict")] == {"n": 1}


def test_create_batch_takes_a_list_of_option_dicts(binding) -> None:
    created = run(binding.create_batch([{"id": "b1", "params": 1}, {"id": "b2", "params": 2}]))
    assert [i.id for i in created] == ["b1", "b2"]
    assert [i.id for i in run(binding.createBatch([{"id": "b3"}]))] == ["b3"]


def test_send_event_takes_an_options_dict_or_type_and_payload(binding) -> None:
    instance = run(binding.create({"id": "ev"}))
    run(instance.send_event({"type": "approved", "payload": {"by": "ops"}}))
    run(instance.send_event("nudged", {"n": 1}))
    run(instance.sendEvent({"type": "bare"}))
    assert [(t, p) for _, _, t, p in binding._t.events] == [
        ("approved", {"by": "ops"}),
        ("nudged", {"n": 1}),
        ("bare", None),
    ]


def test_get_then_status_and_controls(binding) -> None:
    run(binding.create({"id": "g1"}))
    instance = run(binding.get("g1"))
    assert run(instance.status())["status"] == "queued"
    run(instance.pause())
    assert run(instance.status())["status"] == "paused"


@pytest.mark.parametrize(
    ("call", "says"),
    [
        (lambda b: b.create("just-an-id"), 'create({"id"'),
        (lambda b: b.create({"id": "x", "payload": {}}), "unknown option(s) ['payload']"),
        (lambda b: b.create({"retention": {"keep": 1}}), "retention {'keep': 1} is invalid"),
        (lambda b: b.create({"id": 7}), "an instance id is a string"),
        (lambda b: b.create({"id": "x"}, params={}), "both an options dict and keywords"),
        (lambda b: b.create_batch({"id": "x"}), "create_batch([{"),
        (lambda b: b.create_batch(["x"]), "create_batch items are option dicts"),
        (lambda b: b.send_event({"type": "x"}), "await env.BINDING.get(instance_id)"),
    ],
)
def test_a_wrong_shape_fails_fast_saying_the_right_one(binding, call, says) -> None:
    with pytest.raises(InvalidBindingCall) as caught:
        run(call(binding))
    assert says in caught.value.message


def test_a_wrong_event_shape_says_the_right_one(binding) -> None:
    instance = run(binding.create({"id": "bad-event"}))
    for bad in ({"payload": 1}, {"type": "x", "data": 1}, 42):
        with pytest.raises(InvalidBindingCall, match="send_event"):
            run(instance.send_event(bad))
    assert binding._t.events == []


def test_a_wrong_shape_is_a_validation_error_and_never_retried() -> None:
    assert issubclass(InvalidBindingCall, ValidationError)
    assert issubclass(InvalidBindingCall, NonRetryableError)
    calls = []

    class Starts(WorkflowEntrypoint):
        async def run(self, event, step):
            @step.do("start child")  # default policy: 5 retries, from 10 seconds
            async def start():
                calls.append(1)
                return await self.env.CHILD.create("not-a-dict")

            return await start()

    binding = AsyncWorkflow(FakeTransport(("child",)), "child")
    journal = MemoryJournal()
    out = execute(Starts(Env({"CHILD": binding})), journal)
    assert out.kind == "errored" and out.error[0] == "InvalidBindingCall"
    assert calls == [1]


def test_a_handle_returned_from_a_step_reads_as_child_id() -> None:
    class Parent(WorkflowEntrypoint):
        async def run(self, event, step):
            child = await step.do("start child")(
                lambda: self.env.CHILD.create({"id": "kid", "params": {}})
            )
            return [child.id, child["id"], child.workflow]

    binding = AsyncWorkflow(FakeTransport(("child",)), "child")
    journal = MemoryJournal()
    assert loads(execute(Parent(Env({"CHILD": binding})), journal).output) == [
        "kid",
        "kid",
        "child",
    ]
    # replayed from the journal: the same shape
    assert loads(execute(Parent(Env({"CHILD": binding})), journal).output) == [
        "kid",
        "kid",
        "child",
    ]


def test_status_reads_like_cloudflares_dict(binding) -> None:
    from pyflow_actors.models import ErrorInfo

    run(binding.create({"id": "s1"}))
    binding._t.set_status("hello", "s1", "errored", error=ErrorInfo(name="TypeError", message="x"))
    status = run(run(binding.get("s1")).status())
    assert status["status"] == "errored"
    assert status["error"]["name"] == "TypeError" and status["error"].message == "x"
