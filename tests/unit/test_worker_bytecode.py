"""The engine writes the bytecode its Ray workers import (they never write it themselves),
before Ray starts, and a folder it cannot write is no error. No Ray is started."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any

import pytest

from pyflow_actors.runtime import bytecode, local


def _module(folder: Path, name: str = "steps.py") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    source = folder / name
    source.write_text("VALUE = 1\n")
    return source


def test_a_module_without_bytecode_gets_a_pyc_that_python_accepts(tmp_path):
    source = _module(tmp_path / "pkg")
    assert bytecode.compile_engine_bytecode(tmp_path / "pkg") is True
    cached = Path(importlib.util.cache_from_source(str(source)))
    assert cached.exists()
    spec = importlib.util.spec_from_file_location("steps_under_test", source)
    assert spec is not None and spec.loader is not None
    code = spec.loader.get_code("steps_under_test")  # type: ignore[attr-defined]
    assert code is not None and cached.stat().st_size > 0


def test_a_stale_pyc_is_rewritten_after_its_source_changed(tmp_path):
    source = _module(tmp_path / "pkg")
    bytecode.compile_engine_bytecode(tmp_path / "pkg")
    cached = Path(importlib.util.cache_from_source(str(source)))
    before = cached.read_bytes()
    source.write_text("VALUE = 2  # edited\n")
    edited = source.stat().st_mtime + 10  # compileall, like import, compares the mtime
    os.utime(source, (edited, edited))
    assert bytecode.compile_engine_bytecode(tmp_path / "pkg") is True
    assert cached.read_bytes() != before


def test_a_folder_whose_pycache_cannot_be_made_is_reported_not_raised(tmp_path):
    _module(tmp_path / "pkg")
    (tmp_path / "pkg" / "__pycache__").write_text("a file where the folder would go")
    assert bytecode.compile_engine_bytecode(tmp_path / "pkg") is False


def test_a_missing_folder_is_reported_not_raised(tmp_path):
    assert bytecode.compile_engine_bytecode(tmp_path / "gone") is False


def test_the_default_folder_is_the_package_the_instance_actor_imports():
    assert (bytecode.PACKAGE_DIR / "runtime" / "instance.py").is_file()


class Recorded(Exception):
    """Raised by the recording ``ray.init``: start_local goes no further."""


def test_start_local_writes_the_bytecode_before_it_starts_ray(monkeypatch, tmp_path):
    import ray
    import ray._private.utils as ray_utils

    calls: list[str] = []
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.setattr(ray_utils, "read_ray_address", lambda temp_dir=None: None)
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(local, "compile_engine_bytecode", lambda: calls.append("bytecode"))

    def init(**options: Any) -> None:
        calls.append("ray.init")
        raise Recorded

    monkeypatch.setattr(ray, "init", init)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(Recorded):
        local.start_local(storage=tmp_path / "storage")
    assert calls == ["bytecode", "ray.init"]
