"""Workflow versions: a stable id per (code, config) and the version record.

Every registration of a workflow whose code or config differs from its latest
version makes a new version. ``version_id`` is a hash of the source of the
module that defines the workflow class and of the workflow's config: the same
code and config give the same id in every process and after every restart;
any change to either gives a new id.

:class:`VersionInfo` is what ``GET .../versions`` and ``.../versions/{id}``
return (the cloudflare SDK's ``VersionGetResponse``/``VersionListResponse``;
times here are epoch seconds, the gateway renders them as ISO 8601), with the
version graph (:mod:`pyflow_actors.graph`) alongside for ``.../graph``.
Pure: no Ray, no DuckDB, nothing of the workflow is run.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import uuid
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from .errors import WorkflowSourceUnavailable
from .retention import Retention

_NAMESPACE = uuid.UUID("0b5e6f0e-4f43-4d8e-a3a8-6c1f5d2a9e71")


class VersionConcurrency(BaseModel):
    limit: int | None = None


class VersionRetention(BaseModel):
    """Default retention of the version's instances, in milliseconds."""

    success_retention: int | None = None
    error_retention: int | None = None


class VersionLimits(BaseModel):
    steps: int | None = None


class VersionInfo(BaseModel):
    """One version of a workflow, as Cloudflare's versions API shows it.

    ``workflow`` is the workflow's name (the gateway derives ``workflow_id``
    from it); ``class_name`` the class's name; ``graph`` the version graph
    (``None`` when the source could not be read, and then ``has_dag`` is false).
    """

    model_config = ConfigDict(frozen=True)

    id: str
    workflow: str
    class_name: str
    created_on: float
    modified_on: float
    has_dag: bool
    language: Literal["python"] = "python"
    concurrency: VersionConcurrency | None = None
    default_retention: VersionRetention | None = None
    limits: VersionLimits | None = None
    graph: dict[str, Any] | None = None


# WorkflowSpec fields added after versions existed.
_ADDED_LATER = ("default_retention", "max_steps", "schedules")


def version_id(source: str, config: Mapping[str, Any]) -> str:
    """A UUID-shaped hash of the workflow's source and config (stable across processes)."""
    text = json.dumps(
        {"source": source, "config": config}, sort_keys=True, separators=(",", ":"), default=str
    )
    return str(uuid.uuid5(_NAMESPACE, hashlib.sha256(text.encode()).hexdigest()))


def class_version_id(cls: type, config: Mapping[str, Any]) -> str:
    """The version id of ``cls`` registered with ``config`` (its module's source hashed)."""
    from .graph import workflow_source

    try:
        source = workflow_source(cls)
    except WorkflowSourceUnavailable:
        source = f"{cls.__module__}:{cls.__qualname__}"  # no source: its name stands in
    return version_id(source, config)


def spec_config(spec: Any) -> dict[str, Any]:
    """The config part of a version: every field of a ``WorkflowSpec`` but the class."""
    if dataclasses.is_dataclass(spec) and not isinstance(spec, type):
        fields = {f.name: getattr(spec, f.name) for f in dataclasses.fields(spec)}
    else:
        fields = dict(spec)
    fields.pop("cls", None)
    # Operational settings, not the code: kept versions and what to do on a
    # divergence leave the version id as it was.
    fields.pop("versions", None)
    fields.pop("on_divergence", None)
    for later in _ADDED_LATER:  # unset, they leave the version ids of older specs as they were
        if not fields.get(later):
            fields.pop(later, None)
    return fields


def describe_version(
    workflow: str, cls: type, config: Mapping[str, Any], *, created_on: float
) -> VersionInfo:
    """The version of ``cls`` registered as ``workflow`` with ``config``.

    The supervisor calls this at each registration and records the result when
    its ``id`` is not the workflow's latest version id.
    """
    from .graph import workflow_graph  # the model alone stays light

    try:
        graph: dict[str, Any] | None = workflow_graph(cls)
    except WorkflowSourceUnavailable:
        graph = None
    limit = config.get("max_running")
    retention = config.get("default_retention")
    steps = config.get("max_steps")
    return VersionInfo(
        id=class_version_id(cls, config),
        workflow=workflow,
        class_name=cls.__name__,
        created_on=created_on,
        modified_on=created_on,
        has_dag=graph is not None,
        concurrency=VersionConcurrency(limit=limit) if isinstance(limit, int) else None,
        default_retention=VersionRetention(**retention.to_wire())
        if isinstance(retention, Retention)
        else None,
        limits=VersionLimits(steps=steps) if isinstance(steps, int) else None,
        graph=graph,
    )
