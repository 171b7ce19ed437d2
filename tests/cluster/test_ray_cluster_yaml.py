"""ray-cluster.yaml is a valid Ray cluster launcher config that deploys the engine as designed."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

CONFIG = Path(__file__).resolve().parents[2] / "ray-cluster.yaml"


@pytest.fixture(scope="module")
def config() -> dict:
    return yaml.safe_load(CONFIG.read_text())


def test_config_passes_the_cluster_launchers_schema(config):
    from ray.autoscaler._private.util import validate_config

    validate_config(config)


def test_workers_autoscale_and_the_head_is_a_node_type(config):
    types = config["available_node_types"]
    assert config["head_node_type"] in types
    workers = [t for name, t in types.items() if name != config["head_node_type"]]
    assert workers and all(t["max_workers"] > t.get("min_workers", 0) for t in workers)


def test_every_node_installs_the_project_at_the_same_path(config):
    assert "~/pyflow/src" in config["file_mounts"]
    assert any("pip install" in c and "~/pyflow/src" in c for c in config["setup_commands"])


def test_shared_storage_is_mounted_on_every_node_and_used_by_the_engine(config):
    head = " ".join(config["head_setup_commands"] + config["head_start_ray_commands"])
    workers = " ".join(config["worker_setup_commands"])
    assert "/etc/exports" in head and "/mnt/pyflow" in head
    assert "mount -t nfs4" in workers and "$RAY_HEAD_IP:/mnt/pyflow /mnt/pyflow" in workers
    assert "--storage /mnt/pyflow/storage" in head


def test_the_engine_joins_the_cluster_from_the_head(config):
    start = " ".join(config["head_start_ray_commands"])
    assert "ray start --head" in start
    assert "pyflow dev --address auto" in start
    assert start.index("ray start --head") < start.index("pyflow dev --address auto")
