"""The version history of each workflow: one table in the registry's DuckDB file.

The supervisor records the version of each registration
(:func:`pyflow_actors.versions.describe_version`) with :meth:`VersionTable.record`:
a version id not seen before is added; an id seen before (the code went back to
an earlier version) becomes current again. The current version of a workflow is
the one recorded last; listings are newest first.

.. code-block:: python

    versions = VersionTable(registry_connection)
    current = versions.record(describe_version(spec.name, cls, spec_config(spec), created_on=now))
    row.version_id = versions.current_id(spec.name)      # at create
"""

from __future__ import annotations

from typing import Any

from ..versions import VersionInfo

SCHEMA = """
CREATE TABLE IF NOT EXISTS versions (
    workflow VARCHAR, id VARCHAR, created_on DOUBLE, modified_on DOUBLE, info VARCHAR,
    PRIMARY KEY (workflow, id)
);
"""


class VersionTable:
    """Versions in the registry; ``db`` is its connection (anything with ``execute``)."""

    def __init__(self, db: Any) -> None:
        self._db = db
        self._db.execute(SCHEMA)

    def record(self, version: VersionInfo) -> VersionInfo:
        """Make ``version`` the workflow's current version; returns it as recorded
        (an id seen before keeps its ``created_on`` and gets a new ``modified_on``)."""
        known = self.get(version.workflow, version.id)
        if known is not None:
            version = known.model_copy(update={"modified_on": version.modified_on})
        self._db.execute(
            "INSERT OR REPLACE INTO versions VALUES (?, ?, ?, ?, ?)",
            [
                version.workflow,
                version.id,
                version.created_on,
                version.modified_on,
                version.model_dump_json(),
            ],
        )
        return version

    def get(self, workflow: str, version_id: str) -> VersionInfo | None:
        """One version with its graph, or None."""
        row = self._db.execute(
            "SELECT info FROM versions WHERE workflow = ? AND id = ?", [workflow, version_id]
        ).fetchone()
        return None if row is None else VersionInfo.model_validate_json(row[0])

    def list(self, workflow: str) -> list[VersionInfo]:
        """The workflow's versions, current first, without their graphs."""
        rows = self._db.execute(
            "SELECT info FROM versions WHERE workflow = ? ORDER BY modified_on DESC, created_on DESC",
            [workflow],
        ).fetchall()
        return [
            VersionInfo.model_validate_json(r[0]).model_copy(update={"graph": None}) for r in rows
        ]

    def current_id(self, workflow: str) -> str | None:
        """The id of the version recorded last, or None when there is none."""
        row = self._db.execute(
            "SELECT id FROM versions WHERE workflow = ? "
            "ORDER BY modified_on DESC, created_on DESC LIMIT 1",
            [workflow],
        ).fetchone()
        return None if row is None else str(row[0])

    def delete_workflow(self, workflow: str) -> None:
        self._db.execute("DELETE FROM versions WHERE workflow = ?", [workflow])
