"""The graph's node vocabulary: step definitions, scopes, and node constructors.

Shapes follow the SDK's ``cloudflare/types/workflows/version_graph_response.py``.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import Any

from .values import Node

FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef

_STRUCTURE = {"loop", "if", "switch", "try", "block"}


@dataclass
class StepDef:
    """A ``step.do`` definition: what its node shows and what it depends on."""

    name: str
    config: Node
    depends: list[str] = field(default_factory=list)
    concurrent: bool = False
    local: str | None = None  # the variable it is bound to, if any

    def node(self) -> Node:
        return {"type": "step_do", "name": self.name, "config": self.config, "nodes": []}


@dataclass
class Scope:
    """What a function body sees: its step definitions, local functions, and the
    names that stand for the ``step`` object."""

    step_vars: set[str]
    steps: dict[str, StepDef] = field(default_factory=dict)
    functions: dict[str, FunctionNode] = field(default_factory=dict)
    ran: set[str] = field(default_factory=set)

    def inner(self, step_vars: set[str]) -> Scope:
        return Scope(self.step_vars | step_vars, dict(self.steps), dict(self.functions))


def meaningful(nodes: list[Node], *, breaks: bool = False) -> bool:
    """True when the nodes hold something durable (a step, a call, a parallel), or
    with ``breaks``, a ``break``/``return`` (it decides which steps run)."""
    for node in nodes:
        kind = node["type"]
        if kind == "break":
            if breaks:
                return True
            continue
        if kind not in _STRUCTURE:
            return True
        children = list(node.get("nodes", []))
        for branch in node.get("branches", []):
            children.extend(branch["nodes"])
        for block in ("try_block", "catch_block", "finally_block"):
            if node.get(block):
                children.extend(node[block]["nodes"])
        if meaningful(children, breaks=breaks):
            return True
    return False


def bound(definition: StepDef, local: str) -> StepDef:
    definition.local = local
    return definition


def loop(nodes: list[Node]) -> list[Node]:
    return [{"type": "loop", "nodes": nodes}] if meaningful(nodes) else []


def parallel(kind: str, nodes: list[Node]) -> list[Node]:
    return [{"type": "parallel", "kind": kind, "nodes": nodes}] if nodes else []


def block_node(nodes: list[Node]) -> Node:
    return {"type": "block", "nodes": nodes}


def is_name(expr: ast.expr, names: set[str]) -> bool:
    return isinstance(expr, ast.Name) and expr.id in names


def keyword(call: ast.Call, name: str) -> ast.expr | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def argument(call: ast.Call, index: int, name: str) -> ast.expr | None:
    if len(call.args) > index and not isinstance(call.args[index], ast.Starred):
        return call.args[index]
    return keyword(call, name)


def literal(expr: ast.expr) -> Any:
    try:
        return ast.literal_eval(expr)
    except (ValueError, TypeError, SyntaxError):
        return None


def function_name(expr: ast.expr) -> str | None:
    return expr.id if isinstance(expr, ast.Name) else None
