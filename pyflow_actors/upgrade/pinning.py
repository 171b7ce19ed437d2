"""Pinning: which code an instance runs on, when its workflow's code changed since it started.

A workflow may keep earlier versions registered (``versions = [...]`` in its
``[[workflows]]`` block). An instance whose recorded version is one of them
runs on that class until it finishes; ``restart`` moves it to the current
version. An instance whose version is neither current nor kept runs on the
current code, after the replay check (:mod:`.check`) says its journal fits.

Each kept version is ``"module:Class"``, whose id is computed as it was when
that class was current (its module's source, the workflow's config with that
``class_name``): keep the old module unchanged beside the new one. Code that
moved since gives its id explicitly: ``"VERSION_ID=module:Class"`` (ids are in
``pyflow workflows versions NAME``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..config import WorkflowSpec, load_class
from ..versions import class_version_id, spec_config


def kept_versions(spec: WorkflowSpec) -> dict[str, str]:
    """The workflow's kept versions: version id -> ``"module:Class"`` (imports each class)."""
    kept: dict[str, str] = {}
    for entry in spec.versions:
        version, given, path = entry.partition("=")
        if given:
            kept[version.strip()] = path.strip()
            continue
        config = {**spec_config(spec), "class_name": entry}
        kept[class_version_id(load_class(entry), config)] = entry
    return kept


@dataclass(frozen=True)
class Placement:
    """The spec an instance runs on, and whether its journal is checked first."""

    spec: WorkflowSpec
    check_replay: bool


def place(
    spec: WorkflowSpec, instance_version: str | None, current: str | None, kept: dict[str, str]
) -> Placement:
    """Where an instance recorded on ``instance_version`` runs, ``current`` being the latest:
    on the current spec, on a kept version's class, or on the current spec after a check."""
    if instance_version is None or current is None or instance_version == current:
        return Placement(spec, check_replay=False)
    path = kept.get(instance_version)
    if path is not None:
        return Placement(replace(spec, class_name=path, cls=None, versions=()), False)
    return Placement(spec, check_replay=True)  # changed code, not kept: check the journal
