"""Start the embedded engine (local Ray + supervisor) in one line.

.. code-block:: python

    from pyflow_actors import start_local

    with start_local("pyflow.toml") as engine:
        instance = engine.client.workflow("onboarding").create(params={"email": "a@b.c"})
        print(instance.wait())
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ray
from ray.job_config import JobConfig
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from ..client.api import AsyncClient, Client
from ..client.ray_transport import RayTransport
from ..config import EngineConfig, WorkflowSpec, add_code_paths, load_config
from ..storage.duck import storage_unavailable
from .bytecode import compile_engine_bytecode
from .supervisor import SUPERVISOR_NAME
from .supervisor.patient import PatientSupervisor


class LocalEngine:
    """A running engine: ``.client`` (sync), ``async_client()``, ``shutdown()``."""

    def __init__(self, config: EngineConfig, supervisor: Any, started_ray: bool) -> None:
        self.config = config
        self.supervisor = supervisor
        self._started_ray = started_ray
        self.client = Client.from_transport(RayTransport(supervisor, namespace=config.namespace))

    async def async_client(self) -> AsyncClient:
        """An async client on the Ray transport, for the caller's event loop."""
        return AsyncClient(RayTransport(self.supervisor, namespace=self.config.namespace))

    def stats(self) -> dict[str, Any]:
        stats: dict[str, Any] = ray.get(self.supervisor.stats.remote())
        return stats

    def shutdown(self) -> None:
        """Stop what this call started: the client, and Ray if it started Ray.

        Instances are not lost: journals and the registry are on disk, and the
        next start on the same storage continues every non-final instance.
        """
        self.client.close()
        if self._started_ray and ray.is_initialized():
            ray.shutdown()

    def __enter__(self) -> LocalEngine:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.shutdown()


def start_local(
    config: str | os.PathLike[str] | EngineConfig | None = None,
    *,
    workflows: dict[str, type] | list[WorkflowSpec] | None = None,
    ray_address: str | None = None,
    **overrides: Any,
) -> LocalEngine:
    """Start (or join) the engine in a local Ray and register workflows.

    ``config`` is a ``pyflow.toml`` path or an :class:`EngineConfig`;
    ``workflows`` maps workflow names to classes; keyword overrides set
    ``[engine]`` keys (``storage``, ``max_running``, ``hibernate_after``...).
    If Ray is not running in this process it is started here (and stopped by
    :meth:`LocalEngine.shutdown`); an engine already running in the cluster is
    joined and updated.
    """
    specs = _specs(workflows)
    if isinstance(config, EngineConfig):
        engine_config = config.with_workflows(*specs)
    else:
        engine_config = load_config(config, workflows=specs, **overrides)
    add_code_paths(engine_config.code_paths)
    if ray_address is None:  # joining a cluster: the storage is the cluster's to check
        _check_storage(engine_config.storage)
    # Ray's workers never write bytecode: give them the engine's before they start.
    compile_engine_bytecode()

    started_ray = False
    if not ray.is_initialized():
        os.environ.setdefault("RAY_DEDUP_LOGS", "0")  # never merge workflows' log lines
        # Workers must import workflow classes the way this process does.
        paths = [
            p for p in (*engine_config.code_paths, os.getcwd(), *sys.path) if p and os.path.isdir(p)
        ]
        env = {"PYTHONPATH": os.pathsep.join(dict.fromkeys(paths))}
        # No address may still join a cluster: one a ``ray start`` on this machine
        # recorded. Its workers were not started by us: they get the path from
        # the job's config, as on any cluster joined.
        starts_ray = ray_address is None and not os.environ.get("RAY_ADDRESS")
        starts_ray = starts_ray and _starts_new_ray()
        with _inherited_by_workers(env if starts_ray else {}):
            ray.init(
                address=ray_address,
                namespace=engine_config.namespace,
                include_dashboard=False,
                log_to_driver=bool(os.environ.get("PYFLOW_RAY_LOGS")),
                # A Ray started here: its workers inherit env from the raylet.
                # Never a runtime_env: it sends every actor start through Ray's
                # runtime env agent and its setup_worker.py shim (``import ray``
                # twice: 0.81 instead of 0.50 CPU-s per worker), and keeps it off
                # the prestarted idle workers (docs/performance-notes.md).
                runtime_env=None,
                configure_logging=False,
                **(ray_levers() if starts_ray else {"job_config": joined_job_config(paths)}),
            )
        started_ray = ray_address is None
    # Any: Ray's handle typing does not know the supervisor's async methods.
    supervisor: Any = Supervisor_.options(
        num_cpus=0,  # no CPU reserved
        max_restarts=-1,  # restarted forever
        max_concurrency=10_000,  # many concurrent calls
        name=SUPERVISOR_NAME,
        namespace=engine_config.namespace,
        lifetime="detached",
        get_if_exists=True,
        **_on_head_node(),
    ).remote(engine_config)
    ray.get(supervisor.configure.remote(engine_config))
    return LocalEngine(engine_config, supervisor, started_ray)


def ray_levers() -> dict[str, Any]:
    """``ray.init`` options for a Ray this process starts for the engine.

    Ray's workers import the instance actor's modules before they accept work
    (Ray's ``preload_python_modules``): an actor started on an idle worker (the
    worker stock's, ``supervisor/worker_stock.py``) then finds the engine
    imported, ~0.2 CPU-s off its start (docs/performance-notes.md, "Ray's levers").
    """
    return {"_system_config": {"preload_python_modules": [INSTANCE_ACTOR_MODULE]}}


def joined_job_config(paths: list[str]) -> JobConfig:
    """The job config of an engine joining a cluster: the import path for its workers.

    Ray puts a job's driver folders (``py_driver_sys_path``; ``ray.init`` adds the
    script's folder and the working directory there itself) at the front of
    ``sys.path`` in each of the job's workers before their first task, as
    ``PYTHONPATH`` would, without a runtime_env.
    """
    own = [p for p in dict.fromkeys(paths) if not _in_interpreter(p)]  # workers have those
    # Ray inserts each entry at the front of sys.path in turn: the last one wins.
    return JobConfig(_py_driver_sys_path=own[::-1])


def _in_interpreter(path: str) -> bool:
    """Whether ``path`` is the interpreter's own (stdlib, site-packages): every worker has it."""
    resolved = Path(path).resolve()
    prefixes = {Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve()}
    return any(resolved.is_relative_to(prefix) for prefix in prefixes)


def _starts_new_ray() -> bool:
    """Whether ``ray.init()`` without an address starts a Ray (as ray.init decides it):
    it joins the cluster a ``ray start`` on this machine recorded, and a Ray
    joined refuses ``_system_config``."""
    from ray._private.services import canonicalize_bootstrap_address

    unset: Any = None  # what ray.init passes for no address (Ray annotates it str)
    return canonicalize_bootstrap_address(unset) is None


@contextlib.contextmanager
def _inherited_by_workers(env: dict[str, str]) -> Iterator[None]:
    """Set ``env`` in this process while Ray starts (its processes inherit it), then restore."""
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _on_head_node() -> dict[str, Any]:
    """Actor options that pin the supervisor to the head node, from any node.

    A tiny share of the head node's own resource (``node:__internal_head__``),
    as Ray Serve pins its controller: it follows the head even if the head is
    replaced. A soft node affinity is not enough: Ray placed the zero-CPU
    supervisor on a worker node despite it (seen on a 3-node cluster, see
    tests/cluster). Without a head resource: this process's node, softly.
    """
    nodes = ray.nodes()  # type: ignore[no-untyped-call]  # ray.nodes is not annotated
    if any(n.get("Alive") and HEAD_NODE_RESOURCE in n.get("Resources", {}) for n in nodes):
        return {"resources": {HEAD_NODE_RESOURCE: 0.001}}
    here = ray.get_runtime_context().get_node_id()
    return {"scheduling_strategy": NodeAffinitySchedulingStrategy(here, soft=True)}


def _check_storage(storage: os.PathLike[str]) -> None:
    """Fail at once, with a clear error, when the storage folder cannot be written."""
    folder = Path(storage)
    probe = folder / f".pyflow-probe-{os.getpid()}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"ok")
        probe.unlink()
    except OSError as exc:
        raise storage_unavailable(exc, folder) or exc from None


def _specs(workflows: dict[str, type] | list[WorkflowSpec] | None) -> list[WorkflowSpec]:
    if workflows is None:
        return []
    if isinstance(workflows, dict):
        return [WorkflowSpec.of(name, cls) for name, cls in workflows.items()]
    return list(workflows)


HEAD_NODE_RESOURCE = "node:__internal_head__"
INSTANCE_ACTOR_MODULE = "pyflow_actors.runtime.instance"  # what a dedicated instance runs on

# The supervisor, pinned to the head node (options in start_local); its (re)start
# waits out a full or read-only storage (else Ray would never restart it again).
Supervisor_ = ray.remote(PatientSupervisor)

__all__ = ["LocalEngine", "joined_job_config", "ray_levers", "start_local"]
