"""The layering rules of the README's "Architecture" section, checked on the modules
each process imports.

Each check runs in a fresh interpreter, so what another test imported does not
hide a dependency that crept in.
"""

from __future__ import annotations

import subprocess
import sys

import pytest


def imported_after(module: str) -> set[str]:
    """Top-level package names loaded by ``import module`` in a fresh interpreter."""
    code = (
        f"import sys, {module}; print(' '.join(sorted({{m.split('.')[0] for m in sys.modules}})))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    return set(done.stdout.split())


def test_the_replay_engine_knows_nothing_of_ray_duckdb_or_http():
    loaded = imported_after("pyflow_actors.engine.replay")
    assert not loaded & {"ray", "duckdb", "fastapi", "uvicorn", "httpx", "starlette"}


@pytest.mark.parametrize(
    "module", ["pyflow_actors.runtime.instance", "pyflow_actors.runtime.supervisor"]
)
def test_the_actors_know_nothing_of_http(module):
    loaded = imported_after(module)
    assert not loaded & {"fastapi", "uvicorn", "starlette", "typer", "rich"}


def test_the_instance_actor_module_imports_little():
    """An instance actor is a fresh process: its module pulls no web, CLI or ray.data stack."""
    loaded = imported_after("pyflow_actors.runtime.instance")
    assert "duckdb" in loaded
    assert not loaded & {"fastapi", "httpx", "typer", "rich", "pandas", "pyarrow", "numpy"}


@pytest.mark.parametrize(
    "module",
    [
        "pyflow_actors",
        "pyflow_actors.config",
        "pyflow_actors.engine",
        "pyflow_actors.instance_logs",
        "pyflow_actors.runtime.protocol",
        "pyflow_actors.storage.step_view",
        "pyflow_actors.storage.journal",
        "pyflow_actors.runtime.instance",
    ],
)
def test_the_instance_actor_path_loads_no_pydantic(module):
    """pydantic and the boundary models cost ~60-90 ms of CPU per activation; the
    modules an instance actor imports name statuses from ``statuses`` instead."""
    assert "pydantic" not in imported_after(module)


def test_the_gateway_knows_nothing_of_duckdb():
    loaded = imported_after("service")
    assert "fastapi" in loaded
    assert "duckdb" not in loaded


def test_the_supervisor_logic_imports_no_ray():
    """Only the actors wrapper talks to Ray (lazily), so the logic is testable without it."""
    loaded = imported_after("pyflow_actors.runtime.supervisor")
    assert "ray" not in loaded


def test_the_supervisor_package_has_no_import_cycles():
    import ast
    from pathlib import Path

    package = Path(__file__).parents[2] / "pyflow_actors/runtime/supervisor"
    edges = {}
    for path in package.glob("*.py"):
        tree = ast.parse(path.read_text())
        edges[path.stem] = {
            node.module
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module
        }

    def reaches(start: str, target: str, seen: set[str]) -> bool:
        for nxt in edges.get(start, ()):
            if nxt == target or (nxt not in seen and reaches(nxt, target, seen | {nxt})):
                return True
        return False

    assert [m for m in edges if reaches(m, m, set())] == []


@pytest.mark.parametrize(
    "module", ["pyflow_actors.analytics", "pyflow_actors.subscriptions", "pyflow_actors.config"]
)
def test_the_analytics_and_subscription_models_import_no_storage_or_http(module):
    """The gateway and clients import these for their models: they must stay light."""
    loaded = imported_after(module)
    assert not loaded & {"duckdb", "httpx", "fastapi", "ray", "ariadne"}
