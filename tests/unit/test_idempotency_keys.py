"""A caller's ``Idempotency-Key`` makes its resend of a control the same call.

The key and what the call asks for make the control's request id
(``pyflow_actors/idempotency.py``); the supervisor applies one id once, and
refuses the key with another call on the instance it was last used on (409).
Supervisor on fake actors (tests/unit/fake_actors.py), real registry, no Ray.
"""

from __future__ import annotations

import asyncio

import pytest

from pyflow_actors.errors import IdempotencyKeyReused, InvalidIdempotencyKey
from pyflow_actors.idempotency import (
    HEADER,
    control_request_id,
    idempotency_header,
    refuse_key_reuse,
    request_scope,
    validate_idempotency_key,
)

from .fake_actors import FakeBackend
from .test_control_request_ids import generation
from .test_gateway import BASE, api, assert_error, fake  # noqa: F401 - the gateway fixtures
from .test_supervisor import WF, actor, create, run, started, until

pytestmark = pytest.mark.timeout(20)


def test_one_call_sent_again_with_its_key_has_one_request_id_and_another_call_another():
    restart = control_request_id("k-1", "restart")
    assert control_request_id("k-1", "restart") == restart
    others = {
        control_request_id("k-1", "pause"),
        control_request_id("k-1", "restart", {"name": "a", "count": 1, "type": "do"}),
        control_request_id("k-1", "terminate", rollback=True),
        control_request_id("k-1", "terminate"),
        control_request_id("k-2", "restart"),
    }
    assert restart not in others and len(others) == 5
    assert request_scope(restart) == "k-1" == request_scope(control_request_id("k-1", "pause"))
    assert request_scope("0f3a9c") == "0f3a9c"  # an id the Ray transport made


@pytest.mark.parametrize("key", ["", "x" * 256, "caf\u00e9", "tab\there", "line\nbreak"])
def test_a_bad_key_is_refused_saying_what_is_allowed(key):
    with pytest.raises(InvalidIdempotencyKey, match="1 to 255 printable ASCII") as refused:
        validate_idempotency_key(key)
    assert refused.value.http_status == 400
    with pytest.raises(InvalidIdempotencyKey):
        control_request_id(key, "restart")


def test_a_key_of_255_printable_ascii_characters_is_taken_and_sent_as_the_header():
    key = "A-z0-9 ~!" * 28 + "abc"
    assert len(key) == 255 and validate_idempotency_key(key) == key
    assert idempotency_header(key) == {"Idempotency-Key": key}
    assert idempotency_header(None) == {}


def test_a_key_reused_for_another_call_is_refused_and_ids_without_a_key_never_are():
    last = control_request_id("k-1", "restart")
    refuse_key_reuse(last, last)
    refuse_key_reuse(last, control_request_id("k-2", "pause"))
    refuse_key_reuse("0f3a9c", control_request_id("k-1", "pause"))
    refuse_key_reuse(last, "0f3a9c")
    with pytest.raises(IdempotencyKeyReused) as refused:
        refuse_key_reuse(last, control_request_id("k-1", "pause"))
    assert refused.value.http_status == 409 and "'k-1'" in refused.value.message


def test_a_restart_sent_twice_with_one_key_makes_one_generation_and_with_two_keys_two(tmp_path):
    async def scenario() -> None:
        backend = FakeBackend()
        sup = await started(tmp_path, backend)
        await create(sup, "r")
        await actor(backend, "r")
        once = control_request_id("retry-me", "restart")
        await sup.control(WF, "r", "restart", request_id=once)
        await actor(backend, "r", 2)
        await sup.control(WF, "r", "restart", request_id=once)  # the caller's resend
        await asyncio.sleep(0.02)  # a second restart would make its actor by now
        assert generation(sup, "r") == 2 and len(backend.actors_of((WF, "r"))) == 2
        await sup.control(WF, "r", "restart", request_id=control_request_id("another", "restart"))
        await actor(backend, "r", 3)
        assert generation(sup, "r") == 3

    run(scenario)


def test_a_key_sent_with_another_control_is_refused_and_nothing_is_applied(tmp_path):
    async def scenario() -> None:
        backend = FakeBackend()
        sup = await started(tmp_path, backend)
        await create(sup, "r", "other")
        await actor(backend, "r")
        await sup.control(WF, "r", "restart", request_id=control_request_id("k", "restart"))
        second = await actor(backend, "r", 2)
        with pytest.raises(IdempotencyKeyReused):
            await sup.control(WF, "r", "pause", request_id=control_request_id("k", "pause"))
        assert "pause" not in second.calls and generation(sup, "r") == 2
        # Scoped to the instance: the same key on another instance is its own call.
        paused = await sup.control(
            WF, "other", "pause", request_id=control_request_id("k", "pause")
        )
        assert paused.status.value in ("paused", "waitingForPause")

    run(scenario)


def test_only_the_last_control_is_remembered_a_key_used_before_it_is_a_new_call(tmp_path):
    async def scenario() -> None:
        backend = FakeBackend()
        sup = await started(tmp_path, backend)
        await create(sup, "r")
        await actor(backend, "r")
        first = control_request_id("k-old", "restart")
        await sup.control(WF, "r", "restart", request_id=first)
        await actor(backend, "r", 2)
        await sup.control(WF, "r", "pause", request_id=control_request_id("k-new", "pause"))
        await sup.control(WF, "r", "resume")  # another control, without a key
        await sup.control(WF, "r", "restart", request_id=first)  # forgotten: applied again
        await actor(backend, "r", 3)
        assert generation(sup, "r") == 3

    run(scenario)


def test_a_send_with_the_key_of_a_call_still_being_applied_waits_for_it_then_is_refused(
    tmp_path, monkeypatch
):
    async def scenario() -> None:
        backend = FakeBackend()
        sup = await started(tmp_path, backend)
        await create(sup, "r")
        first = await actor(backend, "r")
        stopping, cancel = asyncio.Event(), first.cancel

        async def slow_cancel() -> None:  # the restart's stop of the old run takes a while
            await stopping.wait()
            await cancel()

        monkeypatch.setattr(first, "cancel", slow_cancel)
        restart = asyncio.ensure_future(
            sup.control(WF, "r", "restart", request_id=control_request_id("k", "restart"))
        )
        await until(lambda: sup.commands.applying)
        terminate = asyncio.ensure_future(
            sup.control(WF, "r", "terminate", request_id=control_request_id("k", "terminate"))
        )
        await asyncio.sleep(0.02)
        assert not terminate.done()  # it waits for the restart sent with its key
        stopping.set()
        await restart
        with pytest.raises(IdempotencyKeyReused):
            await terminate
        row = sup.table.require(WF, "r")
        assert row.generation == 2 and row.status.value != "terminated"

    run(scenario)


def test_the_gateway_passes_the_key_on_and_refuses_a_bad_one(api, fake):  # noqa: F811
    api.post(f"{BASE}/hello/instances", json={"instance_id": "g"})
    path = f"{BASE}/hello/instances/g/status"
    assert api.patch(path, json={"status": "pause"}, headers={HEADER: "gw-1"}).status_code == 200
    assert fake.idempotency_key == "gw-1"
    api.patch(path, json={"status": "resume"})
    assert fake.idempotency_key is None  # no header: each send its own call
    for bad in ("", "x" * 256, "caf\u00e9".encode()):
        refused = api.patch(path, json={"status": "restart"}, headers={HEADER: bad})
        assert_error(refused, 400, "control.invalid_idempotency_key")
        assert fake.idempotency_key is None  # the engine was not called
    assert fake._get("hello", "g").status.value == "queued"  # resumed, never restarted
