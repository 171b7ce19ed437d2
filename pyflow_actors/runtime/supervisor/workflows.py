"""The workflow catalog: the registered workflows and the engine's stored config.

Owns the specs (by name, found also by binding name), their created and
modified times, their rows in the registry's workflows table, and their kept
earlier versions (which code an instance started on an older version runs on). Specs and
the config are stored pickled (they hold workflow classes), so that a
restarted supervisor knows every workflow before any client configures it.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from typing import Any

from ...config import EngineConfig, WorkflowSpec
from ...cron import validate_cron
from ...errors import VersionNotFound, WorkflowNotFound
from ...limits import Limits
from ...models import WorkflowInfo, WorkflowSettings
from ...storage.registry import Registry
from ...upgrade.pinning import Placement, kept_versions, place
from ...versions import VersionInfo, describe_version, spec_config

log = logging.getLogger("pyflow.supervisor")


def _pickle() -> Any:
    from ray import cloudpickle  # pickles workflow classes by value where needed

    return cloudpickle


class WorkflowCatalog:
    def __init__(self, registry: Registry, config: EngineConfig) -> None:
        self.registry = registry
        stored = registry.get_setting("config")
        self.config: EngineConfig = _pickle().loads(stored) if stored else config
        self.specs: dict[str, WorkflowSpec] = {}
        self.times: dict[str, tuple[float, float]] = {}
        self.kept: dict[str, dict[str, str]] = {}  # workflow -> version id -> "module:Class"
        self._current: dict[str, str | None] = {}  # workflow -> its current version id
        for name, _binding, _cls, blob, created, modified in registry.workflows():
            try:
                self.specs[name] = _pickle().loads(blob)
            except Exception:  # noqa: BLE001 - a spec whose class is gone is re-registered on start
                log.exception("cannot load workflow %s", name)
                continue
            self.times[name] = (created, modified)
        for spec in self.config.workflows:
            self.register(spec)

    def update(self, workflow: str, settings: WorkflowSettings) -> WorkflowSpec:
        """Replace a workflow's settings (Cloudflare's ``PUT .../workflows/{name}``);
        stored, so that a restarted supervisor and a restarted engine keep them."""
        for cron in settings.schedules:
            validate_cron(cron)
        spec = self.spec(workflow).with_settings(settings)
        self.register(spec, from_config=False)
        self.config = replace(self.config, workflows=tuple(self.specs.values()))
        self._store_config()
        return spec

    def configure(self, config: EngineConfig) -> EngineConfig:
        """Take a new config (its workflows added to the known ones) and store it."""
        for spec in config.workflows:
            self.register(spec)
        self.config = replace(config, workflows=tuple(self.specs.values()))
        self._store_config()
        return self.config

    def register(self, spec: WorkflowSpec, *, from_config: bool = True) -> None:
        """Add or replace a workflow. From a config, the settings it leaves unset
        keep the values the API gave them."""
        now = time.time()
        old = self.specs.get(spec.name)
        if old is not None and from_config:
            spec = spec.keeping_settings_of(old)
        created, modified = self.times.get(spec.name, (now, now))
        if old is None or old.class_name != spec.class_name or old.settings() != spec.settings():
            modified = now
        self.specs[spec.name] = spec
        self.times[spec.name] = (created, modified)
        self.registry.upsert_workflow(
            spec.name, spec.binding, spec.class_name, _pickle().dumps(spec), created, modified
        )
        self._record_version(spec, now)

    def _record_version(self, spec: WorkflowSpec, now: float) -> None:
        """Record the version of the spec's code and config if it is a new one."""
        try:
            version = describe_version(spec.name, spec.load(), spec_config(spec), created_on=now)
        except Exception:  # noqa: BLE001 - its class cannot be loaded here: no version
            log.warning("workflow %s: cannot load its class to version it", spec.name)
            return
        if self.registry.versions.current_id(spec.name) != version.id:
            self.registry.versions.record(version)
        self._current[spec.name] = version.id
        try:
            self.kept[spec.name] = kept_versions(spec)
        except Exception:  # noqa: BLE001 - a kept class that cannot load pins nothing
            log.exception("workflow %s: cannot load a kept version", spec.name)
            self.kept[spec.name] = {}

    def placement(self, workflow: str, version_id: str | None) -> Placement:
        """The code an instance recorded on ``version_id`` runs on (see ``upgrade.pinning``)."""
        spec = self.specs[workflow]
        return place(spec, version_id, self.current_version(workflow), self.kept.get(workflow, {}))

    def current_version(self, workflow: str) -> str | None:
        # Asked at every create and every start: kept in memory after the first read.
        if workflow not in self._current:
            self._current[workflow] = self.registry.versions.current_id(workflow)
        return self._current[workflow]

    def versions(self, workflow: str) -> list[VersionInfo]:
        return self.registry.versions.list(self.spec(workflow).name)

    def version(self, workflow: str, version_id: str) -> VersionInfo:
        name = self.spec(workflow).name
        version = self.registry.versions.get(name, version_id)
        if version is None:
            raise VersionNotFound(f"workflow {name!r} has no version {version_id!r}")
        return version

    def spec(self, workflow: str) -> WorkflowSpec:
        """The workflow named ``workflow`` (its name, or else its binding name)."""
        spec = self.specs.get(workflow)
        if spec is None:
            spec = next((s for s in self.specs.values() if s.binding == workflow), None)
        if spec is None:
            raise WorkflowNotFound(f"workflow {workflow!r} does not exist")
        return spec

    def cap_of(self, workflow: str) -> int | None:
        """A workflow's own running cap (0 for a workflow that no longer exists)."""
        spec = self.specs.get(workflow)
        return 0 if spec is None else spec.max_running

    def bindings(self) -> dict[str, str]:
        return {s.binding: s.name for s in self.specs.values()}

    def info(self, name: str, counts: dict[str, int]) -> WorkflowInfo:
        spec = self.specs[name]
        created, modified = self.times[name]
        return WorkflowInfo(
            name=name,
            binding=spec.binding,
            class_name=spec.class_name,
            created_at=created,
            modified_at=modified,
            instances=counts,
            settings=spec.settings(),
            version_id=self.current_version(name),
        )

    def delete(self, name: str) -> None:
        """Forget a workflow (its registry rows, instances and inbox go in one transaction)."""
        self.registry.delete_workflow(name)
        self.registry.versions.delete_workflow(name)
        self._current.pop(name, None)
        del self.specs[name]
        del self.times[name]
        self.config = replace(self.config, workflows=tuple(self.specs.values()))
        self._store_config()

    def _store_config(self) -> None:
        self.registry.set_setting("config", _pickle().dumps(self.config))


def spec_limits(limits: Limits, spec: WorkflowSpec) -> Limits:
    """The engine's limits, with the workflow's own step limit when it has one."""
    return limits if spec.max_steps is None else replace(limits, max_steps=spec.max_steps)
