"""The options start_local gives a Ray it starts (Ray's levers), and only to one it
starts: ``ray.init()`` without an address joins a cluster a ``ray start`` on this
machine recorded, and a Ray joined refuses ``_system_config``. No Ray is started."""

from __future__ import annotations

import os
from typing import Any

import pytest
import ray
import ray._private.utils as ray_utils

from pyflow_actors.runtime import local


def test_workers_of_a_ray_the_engine_starts_preload_the_instance_actor_path():
    levers = local.ray_levers()
    assert levers["_system_config"]["preload_python_modules"] == ["pyflow_actors.runtime.instance"]
    __import__(local.INSTANCE_ACTOR_MODULE)  # the name is importable


def test_a_cluster_recorded_by_ray_start_is_joined_without_the_levers(monkeypatch):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.setattr(ray_utils, "read_ray_address", lambda temp_dir=None: "10.0.0.1:6379")
    assert not local._starts_new_ray()
    monkeypatch.setattr(ray_utils, "read_ray_address", lambda temp_dir=None: None)
    assert local._starts_new_ray()


class Recorded(Exception):
    """Raised by the recording ``ray.init``: start_local goes no further."""


def _init_options(monkeypatch: pytest.MonkeyPatch, tmp_path: Any, recorded: str | None) -> dict:
    """What start_local passes to ``ray.init`` (and the PYTHONPATH Ray would see)."""
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.setattr(ray_utils, "read_ray_address", lambda temp_dir=None: recorded)
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.chdir(tmp_path)
    seen: dict = {}

    def init(**options: Any) -> None:
        seen.update(options, environ_path=os.environ.get("PYTHONPATH", ""))
        raise Recorded

    monkeypatch.setattr(ray, "init", init)
    with pytest.raises(Recorded):
        local.start_local(storage=tmp_path / "storage")
    return seen


def test_joining_a_cluster_recorded_by_ray_start_gives_its_workers_the_path(monkeypatch, tmp_path):
    # Its workers were started by ``ray start``, not by us: without the path in the
    # job's config they could not import a workflow module of the working dir.
    options = _init_options(monkeypatch, tmp_path, recorded="10.0.0.1:6379")
    assert options["address"] is None
    assert str(tmp_path) in options["job_config"]._py_driver_sys_path
    assert "_system_config" not in options  # a Ray joined refuses it


def test_joining_a_cluster_sets_no_runtime_env(monkeypatch, tmp_path):
    # A runtime_env starts every worker through Ray's setup_worker.py shim, which
    # imports ray before it execs the worker (0.81 instead of 0.50 CPU-s per worker).
    options = _init_options(monkeypatch, tmp_path, recorded="10.0.0.1:6379")
    assert options["runtime_env"] is None


def test_the_joined_path_leaves_out_the_interpreters_own_folders_first_path_last():
    import sysconfig

    stdlib, site_packages = sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["purelib"]
    config = local.joined_job_config(["/app/flows", stdlib, "/app", "/app/flows", site_packages])
    # Ray inserts each entry at the front of a worker's sys.path: the last one wins.
    assert config._py_driver_sys_path == ["/app", "/app/flows"]


def test_a_ray_the_engine_starts_gets_the_path_in_its_environment_not_a_runtime_env(
    monkeypatch, tmp_path
):
    options = _init_options(monkeypatch, tmp_path, recorded=None)
    assert options["runtime_env"] is None  # its workers inherit it from the raylet
    assert "job_config" not in options
    assert str(tmp_path) in options["environ_path"].split(os.pathsep)
    assert options["_system_config"] == local.ray_levers()["_system_config"]
