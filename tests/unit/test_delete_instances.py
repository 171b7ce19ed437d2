"""Deleting instances without Ray: the supervisor stops a live run, erases the
journal, the log and the registry row, answers per id; the gateway's two
routes speak Cloudflare's batch shape."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from pyflow_actors import instance_logs
from pyflow_actors.client.api import AsyncClient
from pyflow_actors.errors import InstanceNotFound, InvalidInstanceId
from pyflow_actors.models import CreateOptions
from pyflow_actors.storage.registry import Registry
from tests.fake_transport import FakeTransport

from .fake_actors import FakeBackend
from .gateway_on_fake import ACCOUNT, TOKEN, gateway_app
from .test_supervisor import WF, actor, create, run, started

pytestmark = pytest.mark.timeout(30)


def test_delete_stops_a_running_instance_and_erases_its_files_and_row(tmp_path):
    async def scenario() -> None:
        backend = FakeBackend()
        sup = await started(tmp_path, backend, max_running=1)
        await create(sup, "run", "queued")
        running = await actor(backend, "run")
        journal = sup.table.journal_path(sup.table.require(WF, "run"))
        journal.parent.mkdir(parents=True, exist_ok=True)
        journal.write_bytes(b"journal")
        log = instance_logs.log_path(tmp_path, WF, "run")
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text("a line\n")

        result = await sup.delete_instances(WF, ["run", "nope", "run"])

        assert [d.id for d in result.deleted] == ["run", "run"]
        [error] = result.errors
        assert (error.id, error.code) == ("nope", InstanceNotFound.numeric_code)
        assert error.message.startswith("instance.not_found: ")
        assert "cancel" in running.calls and running.killed
        assert not journal.exists() and not log.exists()
        assert sup.table.get((WF, "run")) is None
        await actor(backend, "queued")  # the freed slot goes to the next one
        sup.registry.close()
        assert [r.id for r in Registry(tmp_path).instances()] == ["queued"]

    run(scenario)


def test_a_malformed_id_fails_the_whole_delete_before_anything_goes(tmp_path):
    async def scenario() -> None:
        sup = await started(tmp_path, FakeBackend())
        await create(sup, "keep")
        with pytest.raises(InvalidInstanceId):
            await sup.delete_instances(WF, ["keep", "not valid!"])
        with pytest.raises(Exception, match="1 to 100"):
            await sup.delete_instances(WF, [])
        assert sup.table.get((WF, "keep")) is not None

    run(scenario)


def test_retention_purge_erases_like_a_delete(tmp_path):
    async def scenario() -> None:
        backend = FakeBackend()
        sup = await started(tmp_path, backend)
        await create(sup, "old")
        (await actor(backend, "old")).finish()
        await asyncio.sleep(0.05)
        journal = sup.table.journal_path(sup.table.require(WF, "old"))
        journal.parent.mkdir(parents=True, exist_ok=True)
        journal.write_bytes(b"journal")
        assert sup.purge_expired(now=10**12) == 1
        assert sup.table.get((WF, "old")) is None and not journal.exists()

    run(scenario)


def _rest(fake: FakeTransport, method: str, path: str, **kwargs: Any) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(gateway_app(fake), raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as http:
            return await http.request(
                method,
                f"/client/v4/accounts/{ACCOUNT}/workflows/hello/instances{path}",
                headers={"Authorization": f"Bearer {TOKEN}"},
                **kwargs,
            )

    return asyncio.run(go())


def _fake_with(*ids: str) -> FakeTransport:
    fake = FakeTransport()
    asyncio.run(fake.create("hello", [CreateOptions(id=i) for i in ids], batch=True))
    return fake


def test_rest_batch_delete_answers_deleted_and_errors_per_id():
    fake = _fake_with("a", "b")
    response = _rest(fake, "POST", "/batch/delete", json={"instances": ["a", "x", "b"]})
    assert response.status_code == 200, response.text
    result = response.json()["result"]
    assert result["deleted"] == [{"id": "a"}, {"id": "b"}]
    assert [(e["id"], e["code"]) for e in result["errors"]] == [("x", 10406)]
    assert fake.instances == {}


def test_rest_delete_one_and_a_missing_one_is_404():
    fake = _fake_with("a")
    response = _rest(fake, "DELETE", "/a")
    assert response.status_code == 200 and response.json()["result"] == {"id": "a", "deleted": True}
    missing = _rest(fake, "DELETE", "/a")
    assert missing.status_code == 404
    assert missing.json()["errors"][0]["code"] == InstanceNotFound.numeric_code


def test_rest_batch_delete_rejects_a_bad_body():
    fake = _fake_with("a")
    assert _rest(fake, "POST", "/batch/delete", json={"ids": ["a"]}).status_code == 400
    assert _rest(fake, "POST", "/batch/delete", json={"instances": ["a b"]}).status_code == 400
    assert ("hello", "a") in fake.instances


def test_client_delete_and_delete_batch():
    fake = _fake_with("a", "b", "c")
    client = AsyncClient(fake)

    async def go() -> None:
        workflow = client.workflow("hello")
        instance = await workflow.get("a")
        await instance.delete()
        with pytest.raises(InstanceNotFound):
            await instance.delete()
        result = await workflow.delete_batch(["b", "c"])
        assert [d.id for d in result.deleted] == ["b", "c"] and result.errors == []

    asyncio.run(go())
