"""The version graph of a Python workflow: its ``run()`` as Cloudflare's visualizer JSON.

Pure: reads source with :mod:`ast`, imports and runs nothing of the workflow
(no Ray, no DuckDB). The result is what ``GET .../versions/{id}/graph``
returns under ``graph`` (the SDK's ``VersionGraphResponse.graph``):

.. code-block:: python

    from pyflow_actors.graph import workflow_graph
    graph = workflow_graph(Onboarding)
    graph["workflow"]["nodes"][0]
    # {"type": "step_do", "name": "create account", "config": {...}, "nodes": []}

``graph["workflow"]`` is the ``start`` node: ``class_name``, ``functions``
(the body of each local function the workflow calls), ``nodes`` (the body of
``run()``) and ``payload`` (the shape of ``event["payload"]`` as the code
reads it). See :mod:`.builder` for what becomes a node.
"""

from __future__ import annotations

import ast
import inspect
import sys
import textwrap
from typing import Any

from ..errors import WorkflowSourceUnavailable
from .builder import GraphBuilder
from .nodes import FunctionNode, Scope
from .values import Node, payload_shape

GRAPH_VERSION = 1

__all__ = ["GRAPH_VERSION", "graph_from_source", "workflow_graph", "workflow_source"]


def workflow_source(cls: type) -> str:
    """The source of the module that defines the workflow class."""
    module = sys.modules.get(cls.__module__)
    try:
        return inspect.getsource(module) if module is not None else inspect.getsource(cls)
    except (OSError, TypeError) as exc:
        raise WorkflowSourceUnavailable(
            f"cannot read the source of workflow class {cls.__qualname__!r}: {exc}"
        ) from None


def workflow_graph(cls: type) -> Node:
    """The graph of a workflow class, from the source of its module."""
    try:
        line: int | None = inspect.findsource(cls)[1] + 1  # tells apart same-named classes
    except (OSError, TypeError):
        line = None
    return graph_from_source(workflow_source(cls), cls.__name__, line=line)


def graph_from_source(source: str, class_name: str, *, line: int | None = None) -> Node:
    """The graph of class ``class_name`` defined in ``source`` (a module's text);
    ``line`` (1-based, its ``class`` or first decorator line) picks one of several."""
    try:
        module = ast.parse(textwrap.dedent(source))
    except SyntaxError as exc:
        raise WorkflowSourceUnavailable(f"the workflow source does not parse: {exc}") from None
    cls = _find_class(module, class_name, line)
    methods = _methods(module, cls)
    run = methods.get("run")
    if run is None:
        raise WorkflowSourceUnavailable(f"class {class_name!r} has no run(self, event, step)")
    params = [a.arg for a in run.args.posonlyargs + run.args.args]
    event_var = params[1] if len(params) > 1 else "event"
    step_var = params[2] if len(params) > 2 else "step"
    builder = GraphBuilder(module, cls, methods)
    nodes = builder.body(run, Scope({step_var, "step"}))
    workflow: Node = {
        "type": "start",
        "class_name": class_name,
        "functions": dict(sorted(builder.functions.items())),
        "nodes": nodes,
    }
    fields = _payload_fields(cls, event_var)
    if fields:
        workflow["payload"] = payload_shape(fields)
    return {"version": GRAPH_VERSION, "workflow": workflow}


def _find_class(module: ast.Module, name: str, line: int | None = None) -> ast.ClassDef:
    found = [n for n in ast.walk(module) if isinstance(n, ast.ClassDef) and n.name == name]
    if not found:
        raise WorkflowSourceUnavailable(f"class {name!r} is not defined in the workflow source")
    for node in found:
        if line in (node.lineno, *(d.lineno for d in node.decorator_list)):
            return node
    return found[0]


def _methods(module: ast.Module, cls: ast.ClassDef) -> dict[str, FunctionNode]:
    """The class's methods, with those of base classes defined in the same module."""
    found: dict[str, FunctionNode] = {}
    for base in cls.bases:
        if isinstance(base, ast.Name) and base.id != cls.name:
            try:
                found.update(_methods(module, _find_class(module, base.id)))
            except WorkflowSourceUnavailable:
                continue  # a base from elsewhere (WorkflowEntrypoint)
    found.update({f.name: f for f in cls.body if isinstance(f, FunctionNode)})
    return found


def _payload_fields(cls: ast.ClassDef, event_var: str) -> dict[str, Any]:
    """The keys the workflow reads from ``event["payload"]``, nested."""
    aliases: dict[str, list[str]] = {}

    def path(expr: ast.expr) -> list[str] | None:
        if isinstance(expr, ast.BoolOp) and isinstance(expr.op, ast.Or):
            return path(expr.values[0])
        if isinstance(expr, ast.Name):
            return aliases.get(expr.id)
        key: object = None
        base: ast.expr | None = None
        if isinstance(expr, ast.Subscript) and isinstance(expr.slice, ast.Constant):
            base, key = expr.value, expr.slice.value
        elif isinstance(expr, ast.Attribute) and _is_event(expr.value, event_var):
            base, key = expr.value, expr.attr  # event.payload
        elif (
            isinstance(expr, ast.Call)
            and isinstance(expr.func, ast.Attribute)
            and expr.func.attr == "get"
            and expr.args
            and isinstance(expr.args[0], ast.Constant)
        ):
            base, key = expr.func.value, expr.args[0].value
        if base is None or not isinstance(key, str):
            return None
        if isinstance(base, ast.Name) and base.id == event_var:
            return [] if key == "payload" else None
        prefix = path(base)
        return None if prefix is None else [*prefix, key]

    for _ in range(2):  # aliases of aliases
        for node in ast.walk(cls):
            if isinstance(node, ast.Assign) and len(node.targets) == 1:
                target = node.targets[0]
                found = path(node.value)
                if isinstance(target, ast.Name) and found is not None:
                    aliases[target.id] = found
    fields: dict[str, Any] = {}
    for node in ast.walk(cls):
        if isinstance(node, ast.Subscript | ast.Call | ast.Attribute):
            found = path(node)
            if found:
                level = fields
                for key in found:
                    level = level.setdefault(key, {})
    return fields


def _is_event(expr: ast.expr, event_var: str) -> bool:
    return isinstance(expr, ast.Name) and expr.id == event_var
