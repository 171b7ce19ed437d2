"""Configuration mistakes found at start, not at the first instance.

``pyflow dev`` calls :func:`problems` before it starts anything: it imports
every workflow class and returns one line per problem (module not found,
class missing, syntax error with file and line, not a ``WorkflowEntrypoint``).
:func:`warnings` names the keys of a ``pyflow.toml`` that pyflow does not use
(wrangler's ``compatibility_date``, ...). :func:`resolve_class_name` turns a
bare ``class_name = "Hello"`` into ``module:Hello`` when exactly one file in
the config's folder defines that class.
"""

from __future__ import annotations

import ast
import importlib
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

# Top-level keys pyflow reads; `name`, `main` and `triggers` declare a Worker (the
# porting path). Keep both sets in step with config.py's readers (a unit test does).
KNOWN_TOP_LEVEL = {
    "workflows", "engine", "vars", "limits", "tokens", "subscriptions", "name", "main",
    "triggers",
}  # fmt: skip
KNOWN_WORKFLOW_KEYS = {
    "name", "binding", "class_name", "script_name", "max_running", "placement", "versions",
    "on_divergence", "default_retention", "limits", "schedules",
}  # fmt: skip
# Folders never searched for a bare class name.
SKIPPED_FOLDERS = {".venv", "venv", "node_modules", "__pycache__", "build", "dist"}
MAX_FILES_SEARCHED = 2000


def warnings(data: dict[str, Any]) -> list[str]:
    """One line per key of a parsed ``pyflow.toml`` that pyflow ignores."""
    out = [f"{key!r} is not used by pyflow (ignored)" for key in data if key not in KNOWN_TOP_LEVEL]
    for n, block in enumerate(data.get("workflows") or [], 1):
        if not isinstance(block, dict):
            continue
        label = block.get("name") or f"#{n}"
        out.extend(
            f"[[workflows]] {label!s}: {key!r} is not used by pyflow (ignored)"
            for key in block
            if key not in KNOWN_WORKFLOW_KEYS
        )
    return out


# ---------------------------------------------------------------------------
# class_name without a module


def _python_files(base: Path) -> Iterable[Path]:
    count = 0
    for folder, subfolders, files in os.walk(base):
        subfolders[:] = sorted(
            d for d in subfolders if not d.startswith(".") and d not in SKIPPED_FOLDERS
        )
        for name in sorted(files):
            if name.endswith(".py"):
                count += 1
                if count > MAX_FILES_SEARCHED:
                    return
                yield Path(folder) / name


def _defines(file: Path, class_name: str) -> bool:
    try:
        tree = ast.parse(file.read_text(encoding="utf-8", errors="replace"))
    except (SyntaxError, ValueError, OSError):
        return False
    return any(isinstance(n, ast.ClassDef) and n.name == class_name for n in tree.body)


def _module_name(file: Path, base: Path) -> str:
    parts = list(file.relative_to(base).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def candidates(class_name: str, base: Path) -> list[str]:
    """``module:Class`` for every module under ``base`` that defines ``class_name``."""
    if not class_name.isidentifier():
        return []
    return [
        f"{_module_name(file, base)}:{class_name}"
        for file in _python_files(base)
        if class_name in file.read_text(encoding="utf-8", errors="replace")
        and _defines(file, class_name)
    ]


def resolve_class_name(class_name: str, base: Path) -> str:
    """``class_name`` with its module: as given when it has one, else the one
    module in ``base`` defining it; unchanged when none or several do (then
    :func:`problems` says which ``module:Class`` to write)."""
    if ":" in class_name:
        return class_name
    found = candidates(class_name, base)
    return found[0] if len(found) == 1 else class_name


# ---------------------------------------------------------------------------
# importing every workflow class


def _import_problem(workflow: str, path: str, base: Path) -> str | None:
    module_name, _, attr = path.partition(":")
    where = f"workflow {workflow!r}"
    if not attr:
        found = candidates(path, base)
        if found:
            choices = " or ".join(repr(f) for f in found)
            return f"{where}: class_name {path!r} is ambiguous: write {choices}"
        return (
            f"{where}: class_name {path!r} needs its module: write 'module:{path}' "
            f"(no file under {str(base)!r} defines class {path})"
        )
    try:
        obj: Any = importlib.import_module(module_name)
    except SyntaxError as exc:
        return (
            f"{where}: syntax error in {exc.filename or module_name} line {exc.lineno}: {exc.msg}"
        )
    except ModuleNotFoundError as exc:
        if exc.name and (module_name == exc.name or module_name.startswith(exc.name + ".")):
            return f"{where}: module {module_name!r} not found (class_name {path!r})"
        return f"{where}: module {module_name!r} imports {exc.name!r}, which is not installed"
    except Exception as exc:  # noqa: BLE001 - the user's module may raise anything on import
        return f"{where}: importing {module_name!r} failed: {type(exc).__name__}: {exc}"
    try:
        for part in attr.split("."):
            obj = getattr(obj, part)
    except AttributeError:
        return f"{where}: module {module_name!r} has no class {attr!r} (class_name {path!r})"
    from .entrypoint import WorkflowEntrypoint

    if not (isinstance(obj, type) and issubclass(obj, WorkflowEntrypoint)):
        return (
            f"{where}: {path!r} is not a WorkflowEntrypoint subclass: "
            "declare it as `class X(WorkflowEntrypoint)`"
        )
    return None


def problems(specs: Iterable[Any], code_paths: Iterable[str], base: Path) -> list[str]:
    """One line per workflow whose class cannot be used (empty when all import)."""
    for path in reversed(list(code_paths)):
        if path not in sys.path:
            sys.path.insert(0, path)
    out = []
    for spec in specs:
        # Kept versions ("module:Class" or "ID=module:Class") must import as well.
        paths = [v.partition("=")[2] or v for v in getattr(spec, "versions", ())]
        if spec.cls is None:
            paths.insert(0, spec.class_name)
        for path in paths:
            problem = _import_problem(spec.name, path, base)
            if problem:
                out.append(problem)
    return out


def check(config: Path | None, engine_config: Any) -> tuple[list[str], list[str]]:
    """``(warnings, problems)`` of a loaded configuration (``config``: its file)."""
    found = warnings(tomllib.loads(config.read_text())) if config is not None else []
    base = config.resolve().parent if config is not None else Path.cwd()
    return found, problems(engine_config.workflows, engine_config.code_paths, base)
