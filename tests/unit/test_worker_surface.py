"""The Workers surface a Worker's code sees: Request, Response, ctx, and how a module loads."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from pyflow_actors.errors import ConfigError, WorkerFailed
from pyflow_actors.models import InstanceStatus, InstanceStatusInfo
from pyflow_actors.worker import ExecutionContext, Request, Response, Worker


def test_request_headers_are_case_insensitive_and_the_body_reads_as_json_or_text() -> None:
    request = Request(
        "http://gw/x",
        method="post",
        headers=[("Content-Type", "application/json")],
        body=b'{"a": 1}',
    )
    assert request.method == "POST"
    assert request.headers.get("content-type") == "application/json"
    assert "CONTENT-TYPE" in request.headers
    assert asyncio.run(request.json()) == {"a": 1}
    assert asyncio.run(request.text()) == '{"a": 1}'
    with pytest.raises(ValueError):
        asyncio.run(Request("http://gw/", body=b"not json").json())


def test_response_json_dumps_what_steps_may_return() -> None:
    status = InstanceStatusInfo(id="a", workflow="w", status=InstanceStatus.COMPLETE, created_at=1)
    response = Response.json({"status": status}, status=201, headers={"X-Id": "a"})
    assert response.status == 201 and response.headers["x-id"] == "a"
    assert response.headers["content-type"] == "application/json"
    assert b'"status":"complete"' in response.body


def test_a_response_body_must_be_text_or_bytes() -> None:
    with pytest.raises(TypeError, match=r"Response\.json"):
        Response({"a": 1})  # type: ignore[arg-type]
    assert Response.redirect("/there").headers["location"] == "/there"


def test_wait_until_keeps_the_task_in_the_owners_set() -> None:
    kept: set = set()

    async def go() -> list[int]:
        done: list[int] = []

        async def later() -> None:
            done.append(1)

        ExecutionContext(kept).wait_until(later())
        assert len(kept) == 1
        await asyncio.gather(*kept)
        return done

    assert asyncio.run(go()) == [1] and not kept


def test_the_one_worker_entrypoint_subclass_is_found_without_default(tmp_path) -> None:
    main = tmp_path / f"w_{uuid.uuid4().hex[:8]}.py"
    main.write_text(
        "from pyflow_actors import Response, WorkerEntrypoint\n"
        "class Shop(WorkerEntrypoint):\n"
        "    def fetch(self, request):\n"
        "        return Response('sync ' + request.url)\n"
    )
    worker = Worker.load("shop", main)
    response = asyncio.run(worker.fetch(Request("http://gw/"), None, ExecutionContext()))
    assert response.body == b"sync http://gw/"
    assert not worker.has_scheduled
    with pytest.raises(WorkerFailed, match="no scheduled handler"):
        asyncio.run(worker.scheduled(None, None, ExecutionContext()))  # type: ignore[arg-type]


def test_a_module_without_handlers_or_with_a_clashing_name_is_refused(tmp_path) -> None:
    empty = tmp_path / f"w_{uuid.uuid4().hex[:8]}.py"
    empty.write_text("X = 1\n")
    with pytest.raises(ConfigError, match="no WorkerEntrypoint subclass"):
        Worker.load("w", empty)
    clash = tmp_path / "other" / "json.py"  # the stdlib's json is imported already
    clash.parent.mkdir()
    clash.write_text("")
    with pytest.raises(ConfigError, match="already imported"):
        Worker.load("w", clash)


def test_a_missing_workers_module_says_how_to_install_it(tmp_path, monkeypatch) -> None:
    import sys

    main = tmp_path / f"w_{uuid.uuid4().hex[:8]}.py"
    main.write_text("from workers import Response\n")
    monkeypatch.setitem(sys.modules, "workers", None)  # as if not installed
    with pytest.raises(ConfigError, match=r'pip install "pyflow-actors\[workers\]"'):
        Worker.load("w", main)
