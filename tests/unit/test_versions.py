"""Versions: stable ids from code and config, and the versions REST API on the
gateway (fake transport) through the official SDK and our HTTP transport."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import httpx
import pytest

from examples.hello import Hello
from examples.onboarding import Onboarding
from pyflow_actors.client.api import AsyncClient
from pyflow_actors.client.http_transport import HttpTransport
from pyflow_actors.config import WorkflowSpec
from pyflow_actors.errors import VersionNotFound
from pyflow_actors.graph import workflow_graph
from pyflow_actors.versions import describe_version, spec_config, version_id
from service.schemas import workflow_id
from tests.fake_transport import FakeTransport
from tests.unit.gateway_on_fake import ACCOUNT, TOKEN, gateway_app, sdk_call


def hello_version(created_on: float = 1_700_000_000.0, **spec: object):
    config = spec_config(WorkflowSpec.of("hello", Hello, **spec))
    return describe_version("hello", Hello, config, created_on=created_on)


def test_same_code_and_config_give_the_same_id_in_another_process():
    here = hello_version().id
    code = (
        "from examples.hello import Hello\n"
        "from pyflow_actors.config import WorkflowSpec\n"
        "from pyflow_actors.versions import describe_version, spec_config\n"
        "c = spec_config(WorkflowSpec.of('hello', Hello))\n"
        "print(describe_version('hello', Hello, c, created_on=0).id)\n"
    )
    there = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout.strip()
    assert here == there


def test_any_change_of_code_or_config_gives_a_new_id():
    source = "class W:\n    async def run(self, event, step):\n        return 1\n"
    base = version_id(source, {"name": "w"})
    assert version_id(source, {"name": "w"}) == base
    assert version_id(source.replace("1", "2"), {"name": "w"}) != base
    assert version_id(source, {"name": "w", "max_running": 3}) != base
    assert hello_version(max_running=2).id != hello_version().id


def test_a_version_describes_the_class_its_settings_and_its_graph():
    version = hello_version(max_running=4)
    assert version.class_name == "Hello" and version.language == "python"
    assert version.has_dag and version.graph == workflow_graph(Hello)
    assert version.concurrency is not None and version.concurrency.limit == 4


def with_versions() -> tuple[FakeTransport, str, str]:
    fake = FakeTransport(("hello",))
    old = hello_version(created_on=1_700_000_000.0, max_running=1)
    new = hello_version(created_on=1_700_000_100.0)
    fake.versions["hello"] = [old, new]
    return fake, old.id, new.id


def test_sdk_lists_gets_and_draws_versions():
    fake, old, new = with_versions()

    async def calls(cf):
        listed = [v async for v in cf.workflows.versions.list("hello", account_id=ACCOUNT)]
        got = await cf.workflows.versions.get(new, account_id=ACCOUNT, workflow_name="hello")
        drawn = await cf.workflows.versions.graph(new, account_id=ACCOUNT, workflow_name="hello")
        return listed, got, drawn

    listed, got, drawn = sdk_call(fake, calls)
    assert [v.id for v in listed] == [new, old]  # newest first
    assert listed[1].concurrency is not None and listed[1].concurrency.limit == 1
    assert got.id == new and got.class_name == "Hello" and got.language == "python"
    assert got.has_dag is True and got.workflow_id == workflow_id("hello")
    assert got.created_on.timestamp() == pytest.approx(1_700_000_100.0)
    assert drawn.graph is not None and drawn.graph.version == 1
    assert drawn.graph.workflow.class_name == "Hello"
    assert [n.type for n in drawn.graph.workflow.nodes] == ["step_do", "step_sleep"]
    assert drawn.model_dump(mode="json", exclude_unset=True)["graph"] == workflow_graph(Hello)


def test_versions_page_and_an_unknown_version_is_a_404_envelope():
    fake, old, _ = with_versions()

    async def calls(cf):
        page = await cf.workflows.versions.list("hello", account_id=ACCOUNT, per_page=1, page=2)
        return page.result

    assert [v.id for v in sdk_call(fake, calls)] == [old]

    async def raw() -> httpx.Response:
        transport = httpx.ASGITransport(gateway_app(fake))
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as http:
            return await http.get(
                f"/client/v4/accounts/{ACCOUNT}/workflows/hello/versions/nope/graph",
                headers={"Authorization": f"Bearer {TOKEN}"},
            )

    response = asyncio.run(raw())
    assert response.status_code == 404
    assert response.json()["errors"][0]["message"].startswith("version.not_found: ")


def test_http_transport_and_client_round_trip_versions_with_their_graph():
    fake, old, new = with_versions()

    async def scenario() -> None:
        transport = HttpTransport(
            "http://gw",
            token=TOKEN,
            account=ACCOUNT,
            transport=httpx.ASGITransport(gateway_app(fake)),
        )
        hello = AsyncClient(transport).workflow("hello")
        versions = await hello.versions()
        assert [v.id for v in versions] == [new, old]
        assert all(v.graph is None for v in versions)
        version = await hello.version(new)
        assert version == fake.versions["hello"][1]
        with pytest.raises(VersionNotFound):
            await hello.version("missing")
        await transport.close()

    asyncio.run(scenario())


def test_onboarding_graph_survives_the_wire_exactly():
    fake = FakeTransport(("onboarding",))
    config = spec_config(WorkflowSpec.of("onboarding", Onboarding))
    version = describe_version("onboarding", Onboarding, config, created_on=1.0)
    fake.versions["onboarding"] = [version]

    async def draw(cf):
        response = await cf.workflows.versions.graph(
            version.id, account_id=ACCOUNT, workflow_name="onboarding"
        )
        return response.model_dump(mode="json", exclude_unset=True)["graph"]

    assert sdk_call(fake, draw) == workflow_graph(Onboarding)


def test_an_instance_shows_the_version_it_was_created_with():
    fake, old, new = with_versions()

    async def calls(cf):
        created = await cf.workflows.instances.create("hello", account_id=ACCOUNT, instance_id="v1")
        fake.set_status("hello", "v1", "running", version_id=old)  # made by an older code
        got = await cf.workflows.instances.get("v1", account_id=ACCOUNT, workflow_name="hello")
        listed = [i async for i in cf.workflows.instances.list("hello", account_id=ACCOUNT)]
        return created, got, listed

    created, got, listed = sdk_call(fake, calls)
    assert created.version_id == new  # the workflow's current version at create
    assert got.version_id == old and [i.version_id for i in listed] == [old]
