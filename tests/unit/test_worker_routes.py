"""A Worker (wrangler's name/main) served under /workers/<name>/, without Ray."""

from __future__ import annotations

import asyncio
import textwrap
import uuid
from pathlib import Path

import pytest

from pyflow_actors.config import EngineConfig, TokenSpec, WorkflowSpec, load_config
from pyflow_actors.errors import ConfigError, InvalidCron
from service import create_app
from service.worker_host import WorkerHost
from tests.fake_transport import FakeTransport
from tests.unit.test_gateway import AppClient

WORKER = """
from workers import Response, WorkerEntrypoint


class Default(WorkerEntrypoint):
    async def fetch(self, request):
        if request.method == "POST":
            body = await request.json()
            instance = await self.env.MY_WORKFLOW.create({"id": body["id"], "params": body})
            return Response.json({"id": instance.id}, status=201)
        if request.url.endswith("/boom"):
            raise RuntimeError("secret detail")
        if request.url.endswith("/not-a-response"):
            return {"status": "oops"}
        return Response(
            f"{request.method} {request.url} {self.env.GREETING} "
            f"{request.headers.get('x-test')}",
            headers={"x-worker": "yes"},
        )

    async def scheduled(self, event, env, ctx):
        await env.MY_WORKFLOW.create({"id": "cron-run", "params": {"cron": event.cron}})
"""

ON_FETCH = """
from workers import Response


async def on_fetch(request, env):
    await env.MY_WORKFLOW.create()
    return Response("Hello world!")
"""


def write_worker(folder: Path, source: str) -> Path:
    main = folder / f"entry_{uuid.uuid4().hex[:8]}.py"
    main.write_text(textwrap.dedent(source))
    return main


def make_app(tmp_path: Path, source: str, crons: str = ""):
    main = write_worker(tmp_path, source)
    toml = tmp_path / "pyflow.toml"
    toml.write_text(
        f'name = "shop"\nmain = "{main.name}"\n{crons}\n'
        '[[workflows]]\nname = "hello"\nbinding = "MY_WORKFLOW"\nclass_name = "Starter"\n'
        '[vars]\nGREETING = "hi"\n'
    )
    config = load_config(toml)
    transport = FakeTransport(("hello",))
    from pyflow_actors.client.api import AsyncClient

    app = create_app(AsyncClient(transport), config, tokens=(TokenSpec("t", ("acme",)),))
    return app, transport, config


def test_wrangler_top_level_keys_declare_the_worker_and_bare_class_names(tmp_path) -> None:
    _, _, config = make_app(tmp_path, WORKER, 'compatibility_date = "2026-02-11"')
    assert config.worker is not None and config.worker.name == "shop"
    assert config.workflows[0].class_name == f"{config.worker.main.stem}:Starter"
    assert str(config.worker.main.parent) in config.code_paths


def test_fetch_answers_without_a_token_at_the_workers_own_root(tmp_path) -> None:
    app, _, _ = make_app(tmp_path, WORKER)
    response = AppClient(app).get("/workers/shop/orders?x=1", headers={"X-Test": "42"})
    assert response.status_code == 200
    assert response.text == "GET http://gw/orders?x=1 hi 42"
    assert response.headers["x-worker"] == "yes"
    assert response.headers["content-type"].startswith("text/plain")


def test_the_worker_creates_instances_through_its_env_binding(tmp_path) -> None:
    app, transport, _ = make_app(tmp_path, WORKER)
    response = AppClient(app).post("/workers/shop/", json={"id": "order-1", "n": 2})
    assert response.status_code == 201 and response.json() == {"id": "order-1"}
    assert transport.params[("hello", "order-1")] == {"id": "order-1", "n": 2}


def test_module_level_on_fetch_works(tmp_path) -> None:
    app, transport, _ = make_app(tmp_path, ON_FETCH)
    response = AppClient(app).get("/workers/shop")
    assert response.text == "Hello world!"
    assert len(transport.instances) == 1


@pytest.mark.parametrize("path", ["boom", "not-a-response"])
def test_a_failing_worker_is_a_500_envelope_without_its_details(tmp_path, path) -> None:
    app, _, _ = make_app(tmp_path, WORKER)
    response = AppClient(app).get(f"/workers/shop/{path}")
    assert response.status_code == 500
    message = response.json()["errors"][0]["message"]
    assert message.startswith("worker.exception: ") and "secret detail" not in message


def test_an_unknown_worker_is_a_404_envelope(tmp_path) -> None:
    app, _, _ = make_app(tmp_path, WORKER)
    response = AppClient(app).get("/workers/other/")
    assert response.status_code == 404
    assert "the Worker here is 'shop'" in response.json()["errors"][0]["message"]


def test_no_worker_declared_is_a_404(tmp_path) -> None:
    from pyflow_actors.client.api import AsyncClient

    app = create_app(
        AsyncClient(FakeTransport()), EngineConfig(), tokens=(TokenSpec("t", ("acme",)),)
    )
    assert AppClient(app).get("/workers/shop/").status_code == 404


def test_scheduled_runs_on_a_cron_fire(tmp_path) -> None:
    app, transport, config = make_app(tmp_path, WORKER, '[triggers]\ncrons = ["*/5 * * * *"]')
    host: WorkerHost = app.state.worker
    assert config.worker.crons == ("*/5 * * * *",) and host.worker.has_scheduled
    asyncio.run(host.fire("*/5 * * * *", 300.0))
    assert transport.params[("hello", "cron-run")] == {"cron": "*/5 * * * *"}


def test_the_cron_loop_fires_at_the_next_fire_time(tmp_path) -> None:
    app, transport, _ = make_app(tmp_path, WORKER, '[triggers]\ncrons = ["* * * * *"]')
    host: WorkerHost = app.state.worker
    now = [119.9]  # 0.1 s before minute 2

    async def go() -> None:
        loop = asyncio.ensure_future(host.run_crons(clock=lambda: now[0]))
        for _ in range(200):
            await asyncio.sleep(0.01)
            if ("hello", "cron-run") in transport.params:
                break
        loop.cancel()
        await asyncio.gather(*host.background, return_exceptions=True)

    asyncio.run(go())
    assert ("hello", "cron-run") in transport.params


@pytest.mark.parametrize(
    ("top", "error"),
    [
        ('main = "missing.py"\nname = "w"', ConfigError),
        ('main = "{main}"', ConfigError),
        ('name = "w"\nmain = "{main}"\n[triggers]\ncrons = ["every minute"]', InvalidCron),
        ('[triggers]\ncrons = ["* * * * *"]', ConfigError),
    ],
)
def test_a_bad_worker_declaration_is_a_clear_config_error(tmp_path, top, error) -> None:
    main = write_worker(tmp_path, ON_FETCH)
    toml = tmp_path / "pyflow.toml"
    toml.write_text(top.format(main=main.name) + "\n")
    from pyflow_actors.worker import Worker

    with pytest.raises(error):
        config = load_config(toml)
        Worker.load(config.worker.name, config.worker.main)


def test_a_worker_spec_keeps_explicit_module_class_paths(tmp_path) -> None:
    main = write_worker(tmp_path, ON_FETCH)
    toml = tmp_path / "pyflow.toml"
    toml.write_text(
        f'name = "w"\nmain = "{main.name}"\n'
        '[[workflows]]\nname = "a"\nclass_name = "examples.hello:Hello"\n'
    )
    assert load_config(toml).workflows[0] == WorkflowSpec("a", "examples.hello:Hello")


def test_pyflow_dev_says_worker_routes_are_public_beyond_loopback(tmp_path, capsys) -> None:
    from dataclasses import replace

    from pyflow_actors.cli import dev as cli

    _, _, config = make_app(tmp_path, WORKER)
    cli._worker_banner(replace(config, host="0.0.0.0"), "http://0.0.0.0:8787")
    said = " ".join(capsys.readouterr().out.split())
    assert "worker: http://0.0.0.0:8787/workers/shop/" in said
    assert "/workers/shop/ is public: Worker routes take no API token" in said
    cli._worker_banner(config, "http://127.0.0.1:8787")
    assert "public" not in capsys.readouterr().out


def test_a_cron_fire_runs_once_across_gateways_on_one_engine(tmp_path) -> None:
    app, transport, _ = make_app(tmp_path, WORKER, '[triggers]\ncrons = ["* * * * *"]')
    from pyflow_actors.client.api import AsyncClient

    config = app.state.config
    second = WorkerHost(config.worker, AsyncClient(transport), config)
    runs = []

    async def count(event, env, ctx) -> None:
        runs.append(event.scheduledTime)

    async def go() -> None:
        for host in (app.state.worker, second):
            object.__setattr__(host.worker, "scheduled", count)
            await host._fire_claimed("* * * * *", 120.0)
        await asyncio.gather(*app.state.worker.background, *second.background)

    asyncio.run(go())
    assert runs == [120_000.0]


def test_after_a_restart_the_latest_missed_fire_runs_once(tmp_path) -> None:
    app, transport, _ = make_app(tmp_path, WORKER, '[triggers]\ncrons = ["* * * * *"]')
    host: WorkerHost = app.state.worker
    transport.cron_fires[("shop", "* * * * *")] = 60.0  # last fire before the downtime
    runs = []

    async def count(event, env, ctx) -> None:
        runs.append(event.scheduledTime)

    object.__setattr__(host.worker, "scheduled", count)

    async def go() -> None:
        loop = asyncio.ensure_future(host.run_crons(clock=lambda: 330.0))  # down 4.5 minutes
        for _ in range(100):
            await asyncio.sleep(0.01)
            if runs:
                break
        loop.cancel()
        await asyncio.gather(*host.background, return_exceptions=True)

    asyncio.run(go())
    assert runs == [300_000.0]
    assert transport.cron_fires[("shop", "* * * * *")] == 300.0


def test_the_examples_worker_signs_up_approves_and_reports() -> None:
    from pyflow_actors.client.api import AsyncClient

    config = load_config(Path(__file__).resolve().parents[2] / "examples" / "pyflow.toml")
    transport = FakeTransport(("hello", "onboarding", "fanout"))
    app = create_app(AsyncClient(transport), config, tokens=(TokenSpec("t", ("acme",)),))
    worker = AppClient(app)
    created = worker.post("/workers/examples/", json={"email": "ada@example.com"})
    assert created.status_code == 201
    instance_id = created.json()["id"]
    assert transport.params[("onboarding", instance_id)] == {"email": "ada@example.com"}
    approved = worker.post(f"/workers/examples/approve?id={instance_id}", json={"by": "ops"})
    assert approved.json() == {"sent": True}
    assert transport.events[-1][2:] == ("approved", {"by": "ops"})
    assert worker.get(f"/workers/examples/?id={instance_id}").json()["status"] == "queued"
    assert worker.get("/workers/examples/").status_code == 400


def test_a_body_over_the_gateways_limit_is_refused_before_the_worker_runs(tmp_path) -> None:
    app, transport, config = make_app(tmp_path, WORKER)
    limits = config.limits
    too_big = limits.max_payload_bytes * limits.max_batch_size + (1 << 20) + 1
    response = AppClient(app).post(
        "/workers/shop/", content=b"x", headers={"content-length": str(too_big)}
    )
    assert response.status_code == 413
    assert transport.instances == {}
