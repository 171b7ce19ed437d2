"""The options start_local gives a Ray it starts (Ray's levers), and only to one it
starts: ``ray.init()`` without an address joins a cluster a ``ray start`` on this
machine recorded, and a Ray joined refuses ``_system_config``. No Ray is started."""

from __future__ import annotations

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
