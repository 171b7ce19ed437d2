"""Every golden registry written by an earlier release opens with this code: migrated
to the current format, every row, event and workflow as it was recorded.

The registries are in ``tests/golden/registry/v<N>/`` (gzipped), written by
``tests/golden/write_golden_registry.py``; each is unpacked into a temporary
folder first (opening it for writing migrates and stamps it).
"""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from pyflow_actors.models import InstanceStatus
from pyflow_actors.storage import formats
from pyflow_actors.storage.registry import Registry

GOLDEN = Path(__file__).parents[1] / "golden" / "registry"
FOLDERS = [pytest.param(f, id=f.name) for f in sorted(GOLDEN.glob("v*"))]


def unpacked(folder: Path, tmp_path: Path) -> Registry:
    target = tmp_path / "registry.duckdb"
    with gzip.open(folder / "registry.duckdb.gz", "rb") as packed, target.open("wb") as raw:
        shutil.copyfileobj(packed, raw)
    return Registry(tmp_path)


def expected(folder: Path) -> dict[str, Any]:
    recorded: dict[str, Any] = json.loads((folder / "expected.json").read_text())
    return recorded


def test_there_is_a_golden_registry_of_every_format_version():
    want = {f"v{n}" for n in range(1, formats.CURRENT[formats.REGISTRY] + 1)}
    assert {p.name for p in GOLDEN.glob("v*")} >= want


@pytest.mark.parametrize("folder", FOLDERS)
def test_a_golden_registry_opens_in_the_current_format_with_its_rows_as_recorded(
    folder: Path, tmp_path: Path
) -> None:
    golden = expected(folder)
    registry = unpacked(folder, tmp_path)
    try:
        assert not registry.recreated  # migrated, not taken for a corrupt file
        current = str(formats.CURRENT[formats.REGISTRY]).encode()
        assert registry.get_setting(formats.KEY) == current
        rows = {r.id: r for r in registry.instances()}
        assert sorted(rows) == sorted(r["id"] for r in golden["instances"])
        for old in golden["instances"]:
            row = rows[old["id"]]
            # Every field the release recorded reads the same; later formats add fields.
            got = {k: getattr(row, k) for k in old}
            got["status"] = InstanceStatus(row.status).value
            got["paused_from"] = row.paused_from.value if row.paused_from else None
            assert got == old
            if "control_request_id" not in old:  # from before format 2: no control known
                assert row.control_request_id is None
        assert [e.__dict__ for e in registry.inbox()] == golden["inbox"]
        assert [w[0] for w in registry.workflows()] == golden["workflows"]
    finally:
        registry.close()


@pytest.mark.parametrize("folder", FOLDERS)
def test_a_control_request_id_written_to_an_upgraded_registry_is_read_back(
    folder: Path, tmp_path: Path
) -> None:
    registry = unpacked(folder, tmp_path)
    row = next(r for r in registry.instances() if r.id == "paused-1")
    row.control_request_id = "resume-1"
    registry.save(row)
    registry.close()
    again = Registry(tmp_path)
    try:
        back = next(r for r in again.instances() if r.id == "paused-1")
        assert back.control_request_id == "resume-1"
    finally:
        again.close()
