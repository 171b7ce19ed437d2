"""The version graph drawn as a terminal tree (rich), for ``pyflow workflows graph``.

Imported only by the CLI: the graph package itself stays free of terminal code.

.. code-block:: text

    Onboarding
    ├── step.do create account  retries 3 × 1 second exponential, timeout 30 seconds
    ├── step.sleep give them a moment  3 seconds
    ├── try
    │   ├── step.wait_for_event wait for approval  type approved, timeout 1 hour
    │   └── except
    │       └── return
    └── step.do activate  ...
"""

from __future__ import annotations

from typing import Any

from rich.markup import escape
from rich.tree import Tree

Node = dict[str, Any]


def graph_tree(graph: Node) -> Tree:
    """A rich tree of ``graph`` (the ``{"version", "workflow"}`` document)."""
    workflow = graph["workflow"]
    tree = Tree(f"[bold]{escape(workflow['class_name'])}[/bold]")
    _add(tree, workflow["nodes"])
    for name, function in workflow.get("functions", {}).items():
        _add(tree.add(f"[bold]def[/bold] {escape(name)}()"), function["nodes"])
    shape = workflow.get("payload")
    if shape and shape.get("type") == "object":
        _shape(tree.add("[dim]payload[/dim]"), shape)
    return tree


def _add(parent: Tree, nodes: list[Node]) -> None:
    for node in nodes:
        branch = parent.add(_label(node))
        kind = node["type"]
        if kind in ("loop", "parallel", "block", "step_do"):
            _add(branch, node.get("nodes", []))
        elif kind in ("if", "switch"):
            for item in node["branches"]:
                condition = item["condition"]
                text = "else" if condition is None else f"{'case' if kind == 'switch' else 'if'} "
                label = text if condition is None else text + escape(condition)
                _add(branch.add(f"[cyan]{label}[/cyan]"), item["nodes"])
        elif kind == "try":
            _add(branch, node["try_block"]["nodes"] if node.get("try_block") else [])
            for key, word in (("catch_block", "except"), ("finally_block", "finally")):
                if node.get(key) is not None:
                    _add(branch.add(f"[cyan]{word}[/cyan]"), node[key]["nodes"])


def _label(node: Node) -> str:
    kind = node["type"]
    name = escape(str(node.get("name", "")))
    if kind == "step_do":
        config = node["config"]
        retries = config["retries"]
        return (
            f"[green]step.do[/green] {name}  [dim]retries {retries['limit']} × "
            f"{escape(str(retries['delay']))} {retries['backoff']}, "
            f"timeout {escape(str(config['timeout']))}[/dim]"
        )
    if kind == "step_sleep":
        return f"[yellow]step.sleep[/yellow] {name}  {escape(str(node['duration']))}"
    if kind == "step_sleep_until":
        return f"[yellow]step.sleep_until[/yellow] {name}  {escape(str(node['timestamp']))}"
    if kind == "step_wait_for_event":
        options = node.get("options") or {}
        return (
            f"[magenta]step.wait_for_event[/magenta] {name}  "
            f"type {escape(str(options.get('event_type')))}, "
            f"timeout {escape(str(options.get('timeout')))}"
        )
    if kind == "parallel":
        return f"[cyan]parallel[/cyan] ({node['kind']})"
    if kind == "switch":
        return f"[cyan]switch[/cyan] {escape(str(node['discriminant']))}"
    if kind == "function_call":
        return f"[blue]call[/blue] {name}()"
    if kind == "break":
        return f"[red]{node['kind']}[/red]"
    return f"[cyan]{kind}[/cyan]"


def _shape(parent: Tree, shape: Node) -> None:
    for key, field in shape.get("fields", {}).items():
        _shape(parent.add(escape(key)), field)
