"""The version history table (DuckDB, no Ray): new code makes a new current version,
returning to earlier code makes that version current again, and it survives a reopen."""

from __future__ import annotations

import duckdb

from examples.hello import Hello
from pyflow_actors.config import WorkflowSpec
from pyflow_actors.graph import workflow_graph
from pyflow_actors.storage.versions import VersionTable
from pyflow_actors.versions import describe_version, spec_config


def version(at: float, **spec: object):
    config = spec_config(WorkflowSpec.of("hello", Hello, **spec))
    return describe_version("hello", Hello, config, created_on=at)


def test_each_differing_registration_becomes_the_current_version(tmp_path):
    path = str(tmp_path / "registry.duckdb")
    db = duckdb.connect(path)
    table = VersionTable(db)
    assert table.current_id("hello") is None and table.list("hello") == []
    first = table.record(version(1.0))
    assert table.record(version(2.0)).id == first.id  # same code and config: same version
    second = table.record(version(3.0, max_running=2))
    assert second.id != first.id and table.current_id("hello") == second.id
    assert [v.id for v in table.list("hello")] == [second.id, first.id]
    assert all(v.graph is None for v in table.list("hello"))

    back = table.record(version(4.0))  # the code went back to the first version
    assert back.id == first.id and back.created_on == 1.0 and back.modified_on == 4.0
    assert table.current_id("hello") == first.id
    assert [v.id for v in table.list("hello")] == [first.id, second.id]
    db.close()

    reopened = VersionTable(duckdb.connect(path))
    got = reopened.get("hello", first.id)
    assert got is not None and got.graph == workflow_graph(Hello)
    assert reopened.get("hello", "missing") is None
    reopened.delete_workflow("hello")
    assert reopened.list("hello") == [] and reopened.current_id("hello") is None
