"""Every dashboard route is scoped to the accounts of the signed-in token."""

from __future__ import annotations

import asyncio

from pyflow_actors.models import CreateOptions, InstanceStatus
from tests.fake_transport import FakeTransport
from tests.unit.test_dashboard import csrf_of, run, sign_in

OTHER = "/dash/a/globex/workflows/hello"
READS = ["", "/rows", "/instances/s-1", "/instances/s-1/live", "/instances/s-1/events"]


def test_no_route_serves_an_account_the_token_does_not_hold():
    fake = FakeTransport(("hello",))
    asyncio.run(
        fake.create("hello", [CreateOptions(id="s-1", params={"k": "secret"})], batch=False)
    )
    fake.set_status("hello", "s-1", "waiting", waiting_for=["go"])

    async def scenario(client):
        await sign_in(client)
        csrf = csrf_of((await client.get("/dash/a/acme")).text)
        answers = [await client.get("/dash/a/globex")]
        answers += [await client.get(OTHER + path) for path in READS]
        for action in ("pause", "terminate", "restart"):
            form = {"action": action, "csrf": csrf}
            answers.append(await client.post(OTHER + "/instances/s-1/control", data=form))
        form = {"type": "go", "payload": "{}", "csrf": csrf}
        answers.append(await client.post(OTHER + "/instances/s-1/event", data=form))
        return answers

    answers = run(fake, scenario)
    assert [a.status_code for a in answers] == [403] * len(answers)
    for answer in answers:
        assert "auth.forbidden" in answer.text and "secret" not in answer.text
    assert fake.instances[("hello", "s-1")].status == InstanceStatus.WAITING
    assert fake.events == []
