"""The `workers` compatibility distribution: Cloudflare's imports work, a real one wins."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

IMPORTS = """
from workers import Response, WorkerEntrypoint, WorkflowEntrypoint, python_from_rpc
from workers.workflows import NonRetryableError
from js import Object
from pyodide.ffi import to_js
import pyflow_actors, pyflow_actors.worker
assert WorkflowEntrypoint is pyflow_actors.WorkflowEntrypoint
assert NonRetryableError is pyflow_actors.NonRetryableError
assert WorkerEntrypoint is pyflow_actors.worker.WorkerEntrypoint
options = to_js({"id": "a", "params": {"n": 1}}, dict_converter=Object.fromEntries)
assert options == {"id": "a", "params": {"n": 1}} and python_from_rpc(options) is options
assert Response.json({"ok": True}).status == 200
print("ok")
"""


def python(code: str, tmp_path: Path, pythonpath: str = "") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": pythonpath}
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_cloudflares_python_imports_work_in_a_fresh_interpreter(tmp_path) -> None:
    done = python(IMPORTS, tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_a_real_workers_distribution_wins_over_the_shim(tmp_path) -> None:
    real = tmp_path / "site" / "workers"
    real.mkdir(parents=True)
    (real / "__init__.py").write_text("THE_REAL_ONE = True\n")
    code = (
        "import workers, pyflow_workers_compat\n"
        "assert workers.THE_REAL_ONE\n"
        "assert not pyflow_workers_compat.serves('workers')\n"
        "assert pyflow_workers_compat.serves('js')\n"
        "from pyflow_workers_compat.workers import WorkflowEntrypoint\n"
        "print('real')\n"
    )
    done = python(code, tmp_path, pythonpath=str(tmp_path / "site"))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "real"


def test_what_pyflow_does_not_have_fails_at_import_with_the_reason(tmp_path) -> None:
    done = python("from workers import DurableObject", tmp_path)
    assert done.returncode != 0
    assert "Durable Objects are not part of pyflow-actors" in done.stderr
    done = python("from js import fetch", tmp_path)
    assert "no JavaScript side" in done.stderr


def test_the_shim_installs_no_top_level_workers_js_or_pyodide_package() -> None:
    from importlib.metadata import files

    installed = files("pyflow-workers-compat") or []
    top_level = {f.parts[0] for f in installed}
    assert "pyflow_workers_compat" in top_level
    assert not top_level & {"workers", "js", "js.py", "pyodide"}
