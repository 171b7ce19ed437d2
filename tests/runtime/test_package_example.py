"""The example in ``pyflow_actors``' docstring runs exactly as written.

It is the first code a user reads (``help(pyflow_actors)``); it once called
``.workflow`` on the engine that ``start_local`` returns, which has none.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import ray

import pyflow_actors
from pyflow_actors.runtime.local import LocalEngine

pytestmark = pytest.mark.ray


def docstring_example() -> str:
    """The code block of the package docstring, dedented."""
    doc = pyflow_actors.__doc__ or ""
    _, _, rest = doc.partition(".. code-block:: python\n")
    lines = []
    for line in rest.splitlines():
        if line.strip() and not line.startswith("    "):
            break  # the first unindented line ends the block
        lines.append(line)
    return textwrap.dedent("\n".join(lines)).strip() + "\n"


def test_the_docstring_example_is_found() -> None:
    code = docstring_example()
    assert code.startswith("from pyflow_actors import")
    assert "start_local(" in code and "print(" in code


def test_the_package_docstring_example_runs(
    engine: LocalEngine,
    engine_storage: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # start_local() without a config keeps its storage in ./.pyflow: here, the
    # session engine's storage, so that the example joins the shared engine.
    (tmp_path / ".pyflow").symlink_to(engine_storage, target_is_directory=True)
    monkeypatch.chdir(tmp_path)
    code = compile(docstring_example(), "pyflow_actors.__doc__", "exec")
    try:
        exec(code, {"__name__": "pyflow_docstring_example"})
    finally:  # the example configured the shared engine with defaults: restore it
        ray.get(engine.supervisor.configure.remote(engine.config))
    assert capsys.readouterr().out == "complete hello world\n"
