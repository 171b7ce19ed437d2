"""The shape of ``pyflow_actors.cli``: the command tree users type, the modules'
import order, and which heavy packages a plain ``pyflow`` command loads.

The first test pins every command and option (as Temporal's export test pins
its names), so moving code between the package's modules changes nothing a
user types.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import typer.main

from pyflow_actors.cli import app

PACKAGE = Path(__file__).parents[2] / "pyflow_actors" / "cli"

# Each command's path, in the order `--help` lists them, and its parameters' flags.
COMMANDS: dict[str, list[str]] = {
    "": ["--url", "--token", "--account", "--json", "--version"],
    "list": ["--page", "--per-page", "--json"],
    "describe": ["name", "--json"],
    "delete": ["name", "--json"],
    "trigger": ["name", "params", "--params-file", "--id", "--wait", "--timeout", "--json"],
    "dev": [
        "--config",
        "-c",
        "--port",
        "--host",
        "--storage",
        "--address",
        "--new-token",
        "--verbose",
        "-v",
    ],  # fmt: skip
    "check": ["--config", "-c", "--storage", "--json"],
    "replay": ["name", "instance_id", "--config", "-c", "--storage"],
    "instances": [],
    "instances list": ["name", "--status", "--page", "--per-page", "--reverse", "--json"],
    "instances describe": [
        "name",
        "instance_id",
        "--step-output",
        "--no-step-output",
        "--truncate-output-limit",
        "--json",
        "--watch",
    ],  # fmt: skip
    "instances logs": ["name", "instance_id", "--follow", "-f", "--tail", "--json"],
    "instances send-event": ["name", "instance_id", "--type", "--payload", "--json"],
    "instances terminate": ["name", "instance_id", "--rollback", "--idempotency-key", "--json"],
    "instances restart": [
        "name",
        "instance_id",
        "--from",
        "--from-type",
        "--idempotency-key",
        "--json",
    ],
    "instances pause": ["name", "instance_id", "--idempotency-key", "--json"],
    "instances resume": ["name", "instance_id", "--idempotency-key", "--json"],
    "instances delete": ["name", "instance_ids", "--filename", "--json"],
    "workflows": [],
    "workflows graph": ["name", "--config", "-c", "--version", "--json"],
    "workflows versions": ["name", "--json"],
    "workflows update": [
        "name",
        "--concurrency",
        "--success-retention",
        "--error-retention",
        "--max-steps",
        "--schedule",
        "--json",
    ],
    "subscriptions": [],
    "subscriptions dead-letters": ["--subscription", "--limit", "--json"],
}

# A module may import only modules of a lower rank (relative imports inside the package).
RANK = {
    "output": 0,
    "gateway": 1,
    "steps": 1,
    "workflows": 2,
    "versions": 2,
    "instances": 2,
    "deletion": 2,
    "settings": 2,
    "subscriptions": 2,
    "dev": 2,
    "upgrade": 2,
    "root": 3,
    "__init__": 4,
    "__main__": 4,
}


def commands(command: Any, path: list[str]) -> Iterator[tuple[str, Any]]:
    yield " ".join(path), command
    for name in getattr(command, "commands", {}):
        yield from commands(command.commands[name], [*path, name])


def test_every_command_keeps_its_place_name_and_options() -> None:
    tree = {
        path: [flag for param in command.params for flag in param.opts + param.secondary_opts]
        for path, command in commands(typer.main.get_command(app), [])
    }
    assert list(tree) == list(COMMANDS)
    assert tree == COMMANDS


def test_the_cli_modules_import_only_downwards() -> None:
    assert {path.stem for path in PACKAGE.glob("*.py")} == set(RANK)
    upward = [
        f"{path.stem} imports {node.module}"
        for path in PACKAGE.glob("*.py")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module
        if RANK[node.module] >= RANK[path.stem]
    ]
    assert upward == []


def test_a_gateway_command_loads_no_ray_server_or_storage() -> None:
    """``pyflow list`` must start fast: the engine, the server and the SSE client load lazily."""
    code = "import sys, pyflow_actors.cli; print(' '.join(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    loaded = {name.split(".")[0] for name in done.stdout.split()}
    assert "typer" in loaded
    assert sorted(loaded & {"ray", "uvicorn", "fastapi", "service", "duckdb", "httpx_sse"}) == []
    assert "pyflow_actors.runtime" not in done.stdout.split()
