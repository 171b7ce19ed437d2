"""The reference's Python examples, unchanged, on one engine and one gateway per case.

Each folder of ``cases/`` is a project as a Cloudflare user brings it: the
reference's code as written, and a ``pyflow.toml`` (wrangler's keys). One
engine (its own Ray namespace and storage) runs every case's workflows; each
case gets the gateway of its own ``pyflow.toml``, on uvicorn, serving its
Worker under ``/workers/<name>/``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from pyflow_actors.config import EngineConfig, TokenSpec, load_config
from tests.api.conftest import ServerThread
from tests.conftest import with_clock_knob

CASES = Path(__file__).parent / "cases"
TOKEN, ACCOUNT = "porting-token", "local"


def case_configs() -> dict[str, EngineConfig]:
    return {
        folder.name: load_config(folder / "pyflow.toml")
        for folder in sorted(CASES.iterdir())
        if (folder / "pyflow.toml").is_file()
    }


@pytest.fixture(scope="session")
def porting_engine(tmp_path_factory, clock_offset_file):
    from pyflow_actors.runtime.local import start_local

    configs = case_configs()
    specs = {w.name: w for config in configs.values() for w in config.workflows}
    paths = tuple(dict.fromkeys(p for config in configs.values() for p in config.code_paths))
    with with_clock_knob(clock_offset_file):  # when this session's Ray starts here
        engine = start_local(
            EngineConfig(
                storage=tmp_path_factory.mktemp("porting"),
                namespace="pyflow-porting",
                hibernate_after=2.0,
                max_running=16,
                code_paths=paths,
                workflows=tuple(specs.values()),
            )
        )
    yield engine, configs
    engine.shutdown()


class Case:
    """One case's gateway: ``worker`` (its Worker, no token) and ``api`` (REST, with the token)."""

    def __init__(self, url: str, config: EngineConfig) -> None:
        self.url, self.config = url, config
        assert config.worker is not None
        self.worker = httpx.Client(base_url=f"{url}/workers/{config.worker.name}", timeout=60)
        self.api = httpx.Client(
            base_url=f"{url}/client/v4/accounts/{ACCOUNT}/workflows",
            headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=60,
        )

    def instances(self, workflow: str) -> list[dict]:
        return self.api.get(f"/{workflow}/instances").json()["result"]

    def instance(self, workflow: str, instance_id: str) -> dict:
        return self.api.get(f"/{workflow}/instances/{instance_id}").json()["result"]


@pytest.fixture(scope="session")
def case(porting_engine) -> Iterator[Callable[[str], Case]]:
    """``case("dag")``: that case's gateway, started on first use."""
    from service import create_app

    engine, configs = porting_engine
    started: dict[str, tuple[Case, ServerThread]] = {}

    def get(name: str) -> Case:
        if name not in started:
            client = asyncio.run(engine.async_client())
            app = create_app(client, configs[name], tokens=(TokenSpec(TOKEN, (ACCOUNT,)),))
            server = ServerThread(app).start()
            started[name] = (Case(server.url, configs[name]), server)
        return started[name][0]

    yield get
    for handle, server in started.values():
        handle.worker.close()
        handle.api.close()
        server.stop()
