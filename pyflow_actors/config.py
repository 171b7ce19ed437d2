"""Configuration: ``pyflow.toml``, mirroring wrangler's ``[[workflows]]`` blocks.

.. code-block:: toml

    [[workflows]]
    name = "onboarding"                            # name in REST and the CLI
    binding = "ONBOARDING"                         # name in self.env and client bindings
    class_name = "examples.onboarding:Onboarding"  # import path "module:Class"
    # max_running = 8                              # optional per-workflow concurrency
    # placement = "shared"                         # dedicated (default) | shared
    # versions = ["examples.onboarding_v1:Onboarding"]  # earlier versions kept for their instances
    # on_divergence = "pause"                      # "error" (default) or "pause"

    [engine]
    storage = ".pyflow"          # journals and registry (relative to this file)
    max_running = 64             # running instances at once (default: from memory)
    hibernate_after = "5 seconds"
    retention = "30 days"
    analytics_retention = "31 days"   # metrics events kept for GraphQL
    placement = "dedicated"      # default placement of every workflow

    [[subscriptions]]            # lifecycle messages (see pyflow_actors.subscriptions)
    name = "ops"
    events = ["instance.errored"]
    url = "https://example.com/hook"

    [vars]                       # plain values, readable as self.env.NAME
    GREETING = "hello"
"""

from __future__ import annotations

import importlib
import os
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .constants import (
    DEFAULT_HIBERNATE_AFTER,
    DEFAULT_HOST,
    DEFAULT_NAMESPACE,
    DEFAULT_PORT,
    DEFAULT_STORAGE,
)
from .durations import parse_duration
from .errors import ConfigError, PyflowError
from .limits import DEFAULT_LIMITS, Limits, validate_workflow_name
from .statuses import Placement

if TYPE_CHECKING:
    # Imported where used: an instance actor unpickles its WorkflowSpec (this
    # module) and needs none of these pydantic models (README: Performance).
    from .models import WorkflowSettings
    from .retention import Retention
    from .subscriptions.spec import SubscriptionSpec

# Memory a live instance actor costs (a Ray worker process), measured here.
INSTANCE_ACTOR_BYTES = 200 * 1024 * 1024
# Memory a warm instance actor holds (process up, class loaded, journal open,
# nothing run): measured 68 MiB USS, 89 MiB PSS here (benchmarks' activation).
WARM_ACTOR_BYTES = 96 * 1024 * 1024


def _memory_bytes() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
        return 8 << 30


def default_max_running() -> int:
    """Running-instance slots sized from this node's memory: half of it, 200 MiB each."""
    return max(2, min(1024, int(_memory_bytes() * 0.5 // INSTANCE_ACTOR_BYTES)))


def default_warm_actors() -> int:
    """Actors started ahead of need may hold a fifth of this node's memory: enough
    on 24 GiB (51) for 30 alarms due at once to each find its actor up."""
    return max(0, min(256, int(_memory_bytes() * 0.2 // WARM_ACTOR_BYTES)))


# Memory a shared instance pre-activated ahead of its alarm holds in its host
# (journal attached, workflow replayed to its wait): 0.74-0.89 MiB USS measured
# here (benchmarks/pinned_memory.py), 0.67 MiB of it DuckDB's, the journal's
# tables read back from its write-ahead log into memory.
PREACTIVATED_BYTES = 1024 * 1024


def default_shared_preactivated() -> int:
    """Shared instances that hosts may hold live ahead of their alarm: a tenth of this
    node's memory at ``PREACTIVATED_BYTES`` each (2,410 on 24 GiB; at most 20,000)."""
    return max(0, min(20_000, int(_memory_bytes() * 0.1 // PREACTIVATED_BYTES)))


def default_worker_stock() -> int:
    """Idle Ray workers kept prestarted per node: one per core (what the raylet
    starts at once), within the warm budget. A lone create's actor then starts
    on a worker already up with the engine imported (create -> complete 0.30 vs
    0.81 s here, docs/performance-notes.md, "Ray's levers"); the warm pool refills it only when no
    activation is starting or wanted, so it does not slow mass wake-ups."""
    return max(0, min(os.cpu_count() or 1, default_warm_actors()))


@dataclass(frozen=True)
class WorkflowSpec:
    """One workflow: its REST name, its binding name and its class (or import path)."""

    name: str
    class_name: str
    binding: str = ""
    max_running: int | None = None
    cls: type | None = field(default=None, compare=False, repr=False)
    placement: Placement | None = None  # None: the engine's default placement
    # Earlier versions kept registered, so instances started on them finish on
    # them: "module:Class" (its version id computed as when it was current),
    # or "VERSION_ID=module:Class" for code moved since (see upgrade.pinning).
    versions: tuple[str, ...] = ()
    on_divergence: str | None = None  # None: the [engine] setting
    # Added later: plain defaults, so specs pickled before them still load.
    default_retention: Retention | None = None
    max_steps: int | None = None  # Cloudflare's limits.steps (else [limits] max_steps)
    schedules: tuple[str, ...] = ()  # cron expressions

    def settings(self) -> WorkflowSettings:
        """The settings the API shows and may change."""
        from .models import WorkflowSettings

        return WorkflowSettings(
            max_running=self.max_running,
            default_retention=self.default_retention,
            max_steps=self.max_steps,
            schedules=self.schedules,
        )

    def with_settings(self, settings: WorkflowSettings) -> WorkflowSpec:
        """This spec with ``settings`` in place of its own (every one of them)."""
        return replace(self, **dict(settings))

    def keeping_settings_of(self, old: WorkflowSpec) -> WorkflowSpec:
        """This spec (from pyflow.toml) with the settings it leaves unset taken from ``old``
        (set by the API), so that a restart keeps them."""
        kept = {k: v for k, v in dict(old.settings()).items() if v and not getattr(self, k)}
        return replace(self, **kept) if kept else self

    def __post_init__(self) -> None:
        validate_workflow_name(self.name)
        if self.placement is not None:
            object.__setattr__(self, "placement", parse_placement(self.placement, self.name))
        if self.on_divergence is not None:
            validate_on_divergence(self.on_divergence, f"workflow {self.name!r}")
        if not self.binding:
            object.__setattr__(self, "binding", self.name.upper().replace("-", "_"))

    @classmethod
    def of(cls, name: str, workflow_class: type, **kwargs: Any) -> WorkflowSpec:
        path = f"{workflow_class.__module__}:{workflow_class.__qualname__}"
        return cls(name=name, class_name=path, cls=workflow_class, **kwargs)

    def load(self) -> type:
        """The workflow class (imported from ``class_name`` when not given)."""
        if self.cls is not None:
            return self.cls
        return load_class(self.class_name)


def parse_placement(value: object, where: str = "engine") -> Placement:
    """``"dedicated"`` or ``"shared"`` (a clear error for anything else)."""
    try:
        return Placement(value)
    except ValueError:
        allowed = " or ".join(repr(p.value) for p in Placement)
        raise ConfigError(f"placement {value!r} of {where} is invalid: use {allowed}") from None


ON_DIVERGENCE = ("error", "pause")


def validate_on_divergence(value: Any, where: str) -> str:
    """``on_divergence`` is "error" (the instance errors) or "pause" (it waits for the operator)."""
    if value not in ON_DIVERGENCE:
        raise ConfigError(f'{where}: on_divergence = {value!r} is invalid: use "error" or "pause"')
    return str(value)


def load_class(path: str) -> type:
    module_name, _, attr = path.partition(":")
    if not module_name or not attr:
        raise ConfigError(f"class_name {path!r} is invalid: use 'package.module:ClassName'")
    try:
        obj: Any = importlib.import_module(module_name)
        for part in attr.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"cannot import workflow class {path!r}: {exc}") from exc
    if not isinstance(obj, type):
        raise ConfigError(f"class_name {path!r} is a {type(obj).__name__}, not a class")
    return obj


@dataclass(frozen=True)
class WorkerSpec:
    """The Worker of wrangler's top-level keys: ``name``, ``main`` and ``[triggers] crons``."""

    name: str
    main: Path
    crons: tuple[str, ...] = ()


@dataclass(frozen=True)
class TokenSpec:
    """An API token for the gateway, allowed on the listed account ids."""

    token: str
    accounts: tuple[str, ...]
    name: str = ""
    token_sha256: str = ""  # the token's SHA-256 (hex), kept instead of ``token``


@dataclass(frozen=True)
class EngineConfig:
    storage: Path = Path(DEFAULT_STORAGE)
    max_running: int = field(default_factory=default_max_running)
    hibernate_after: float = DEFAULT_HIBERNATE_AFTER
    max_queued: int = 1_000_000
    on_divergence: str = "error"  # an instance whose journal the new code does not fit
    creation_rate: float = 1000.0  # instances created per second (token bucket)
    creation_burst: int = 2000
    retention: float = 30 * 86400.0
    analytics_retention: float = 31 * 86400.0
    namespace: str = DEFAULT_NAMESPACE
    code_paths: tuple[str, ...] = ()
    limits: Limits = DEFAULT_LIMITS
    workflows: tuple[WorkflowSpec, ...] = ()
    vars: dict[str, Any] = field(default_factory=dict)
    tokens: tuple[TokenSpec, ...] = ()
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    # Instance actors started ahead of need (alarms due soon, the queue's
    # head): at most this many at once (their memory), at most warm_lead early.
    warm_actors: int = field(default_factory=default_warm_actors)
    warm_lead: float = 60.0
    # Idle Ray workers kept prestarted on each node for instance actors to start
    # on (runtime/supervisor/worker_stock.py), within warm_actors; kept this long unused.
    worker_stock: int = field(default_factory=default_worker_stock)
    worker_stock_keep_alive: float = 600.0
    # Shared instances taken back by a host ahead of their alarm (at most warm_lead
    # early), so that they wake in the host on time: at most this many at once.
    shared_preactivated: int = field(default_factory=default_shared_preactivated)
    worker: WorkerSpec | None = None
    subscriptions: tuple[SubscriptionSpec, ...] = ()
    placement: Placement = Placement.DEDICATED

    def __post_init__(self) -> None:
        object.__setattr__(self, "placement", parse_placement(self.placement))

    def placement_of(self, spec: WorkflowSpec) -> Placement:
        """Where the workflow's instances run: its own placement, else the engine's."""
        return getattr(spec, "placement", None) or self.placement

    def with_workflows(self, *specs: WorkflowSpec) -> EngineConfig:
        by_name = {w.name: w for w in self.workflows}
        for spec in specs:
            by_name[spec.name] = spec
        return replace(self, workflows=tuple(by_name.values()))

    def workflow(self, name: str) -> WorkflowSpec:
        for spec in self.workflows:
            if spec.name == name or spec.binding == name:
                return spec
        from .errors import WorkflowNotFound

        raise WorkflowNotFound(f"workflow {name!r} is not registered")


_ENGINE_KEYS = {
    "storage",
    "on_divergence",
    "max_running",
    "hibernate_after",
    "max_queued",
    "creation_rate",
    "creation_burst",
    "retention",
    "analytics_retention",
    "namespace",
    "code_paths",
    "host",
    "port",
    "warm_actors",
    "warm_lead",
    "worker_stock",
    "worker_stock_keep_alive",
    "shared_preactivated",
    "placement",
}


def load_config(path: str | os.PathLike[str] | None = None, **overrides: Any) -> EngineConfig:
    """Read ``pyflow.toml`` (if given) and apply keyword overrides.

    Relative paths in the file (``storage``, ``code_paths``) are relative to
    the file's folder, which is also put on ``sys.path`` so that ``class_name``
    imports work in every process.
    """
    if sys.version_info >= (3, 11):  # imported here: not on an instance actor's path
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib

    data: dict[str, Any] = {}
    base = Path.cwd()
    if path is not None:
        file = Path(path)
        try:
            data = tomllib.loads(file.read_text())
        except FileNotFoundError:
            raise ConfigError(f"config file {str(file)!r} does not exist") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {str(file)!r} is not valid TOML: {exc}") from None
        base = file.resolve().parent
    try:
        return _build(data, base, overrides)
    except PyflowError:
        raise
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"invalid configuration: {exc}") from None


def _build(data: dict[str, Any], base: Path, overrides: dict[str, Any]) -> EngineConfig:
    engine = dict(data.get("engine", {}))
    unknown = set(engine) - _ENGINE_KEYS
    if unknown:
        raise ConfigError(
            f"unknown [engine] key(s) {sorted(unknown)}: known keys are {sorted(_ENGINE_KEYS)}"
        )
    engine.update({k: v for k, v in overrides.items() if v is not None and k in _ENGINE_KEYS})
    kwargs: dict[str, Any] = {}
    storage = Path(engine.pop("storage", DEFAULT_STORAGE))
    kwargs["storage"] = storage if storage.is_absolute() else (base / storage).resolve()
    durations = ("hibernate_after", "retention", "warm_lead", "analytics_retention")
    for key in (*durations, "worker_stock_keep_alive"):
        if key in engine:
            kwargs[key] = parse_duration(engine.pop(key), what=f"engine.{key}")
    code_paths = [str((base / p).resolve()) for p in engine.pop("code_paths", [])]
    worker = _worker(data, base)
    if worker is not None:  # the main module's folder, so its classes import everywhere
        code_paths.append(str(worker.main.parent))
    kwargs["code_paths"] = tuple(dict.fromkeys([str(base), *code_paths]))
    kwargs["worker"] = worker
    if "on_divergence" in engine:
        validate_on_divergence(engine["on_divergence"], "[engine]")
    kwargs.update(engine)

    specs = []
    for block in data.get("workflows", []):
        missing = {"name", "class_name"} - set(block)
        if missing:
            raise ConfigError(f"[[workflows]] block {block!r} is missing {sorted(missing)}")
        specs.append(
            WorkflowSpec(
                name=block["name"],
                class_name=_class_path(block["class_name"], worker, base),
                binding=block.get("binding", ""),
                max_running=block.get("max_running"),
                placement=block.get("placement"),
                versions=_versions(block),
                on_divergence=block.get("on_divergence"),
                default_retention=_retention(block),
                max_steps=(block.get("limits") or {}).get("steps"),
                schedules=_schedules(block),
            )
        )
    for spec in overrides.get("workflows") or ():
        specs = [s for s in specs if s.name != spec.name] + [spec]
    kwargs["workflows"] = tuple(specs)
    kwargs["vars"] = dict(data.get("vars", {}))
    if "limits" in data:
        kwargs["limits"] = Limits.from_mapping(data["limits"])
    tokens = [
        TokenSpec(
            token=t.get("token", ""),
            accounts=tuple(t.get("accounts", ())),
            name=t.get("name", ""),
            token_sha256=t.get("token_sha256", ""),
        )
        for t in data.get("tokens", [])
    ]
    kwargs["tokens"] = tuple(tokens)
    from .subscriptions.spec import parse_subscriptions

    kwargs["subscriptions"] = parse_subscriptions(data.get("subscriptions", []))
    config = EngineConfig(**kwargs)
    if config.max_running < 1:
        raise ConfigError("engine.max_running must be at least 1")
    if config.warm_actors < 0:
        raise ConfigError("engine.warm_actors must be 0 (none) or more")
    if config.worker_stock < 0:
        raise ConfigError("engine.worker_stock must be 0 (none) or more")
    if config.shared_preactivated < 0:
        raise ConfigError("engine.shared_preactivated must be 0 (none) or more")
    if config.worker_stock_keep_alive < 1:
        raise ConfigError("engine.worker_stock_keep_alive must be at least 1 second")
    return config


def _versions(block: dict[str, Any]) -> tuple[str, ...]:
    """A block's ``versions``: a list of "module:Class" (or "ID=module:Class"),
    or a table of version id = "module:Class"."""
    value = block.get("versions", [])
    if isinstance(value, dict):
        value = [f"{version}={path}" for version, path in value.items()]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(
            f"workflow {block.get('name')!r}: versions must be a list of 'module:Class' "
            "import paths (or a table of version id = 'module:Class')"
        )
    return tuple(value)


def _worker(data: dict[str, Any], base: Path) -> WorkerSpec | None:
    """wrangler's top level: ``main`` (relative to the file) makes a Worker named ``name``."""
    triggers = data.get("triggers", {})
    crons = tuple(triggers.get("crons", ())) if isinstance(triggers, dict) else ()
    if "main" not in data:
        if crons:
            raise ConfigError('[triggers] crons need a Worker: set main = "entry.py" at the top')
        return None
    name = data.get("name")
    if not isinstance(name, str) or not name:
        raise ConfigError('main is set but name is not: add name = "my-worker" at the top')
    from .cron import validate_cron
    from .limits import validate_workflow_name

    validate_workflow_name(name)  # same rule: it is a path segment of /workers/<name>/
    main = Path(data["main"])
    return WorkerSpec(
        name=name,
        main=main if main.is_absolute() else (base / main).resolve(),
        crons=tuple(validate_cron(c) for c in crons),
    )


def _class_path(class_name: str, worker: WorkerSpec | None, base: Path) -> str:
    """``"module:Class"`` as given; a bare class is the Worker's ``main`` module's
    (as wrangler names it), else the one module of the config's folder defining it."""
    if ":" in class_name:
        return class_name
    if worker is not None:
        return f"{worker.main.stem}:{class_name}"
    from .config_check import resolve_class_name  # ast and tomllib: not on an actor's path

    return resolve_class_name(class_name, base)


def add_code_paths(paths: tuple[str, ...]) -> None:
    """Put the config's code folders on ``sys.path`` (done in every process)."""
    for p in reversed(paths):
        if p not in sys.path:
            sys.path.insert(0, p)


def _retention(block: dict[str, Any]) -> Retention | None:
    """A ``[[workflows]]`` block's ``default_retention``, a :class:`ConfigError` if bad."""
    from .retention import Retention

    try:
        return Retention.parse(block.get("default_retention"), what="default_retention")
    except PyflowError as exc:
        raise ConfigError(f"workflow {block.get('name')!r}: {exc.message}") from None


def _schedules(block: dict[str, Any]) -> tuple[str, ...]:
    """A ``[[workflows]]`` block's cron ``schedules`` (a list, or one string)."""
    from .cron import validate_cron

    given = block.get("schedules", [])
    crons = [given] if isinstance(given, str) else list(given)
    try:
        return tuple(validate_cron(c) for c in crons)
    except PyflowError as exc:
        raise ConfigError(f"workflow {block.get('name')!r}: {exc.message}") from None
