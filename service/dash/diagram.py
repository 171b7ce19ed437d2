"""The workflow diagram: a version graph as boxes, with an instance's steps on it.

The version graph (:mod:`pyflow_actors.graph`, read through the transport's
``get_version``) becomes a tree of :class:`Box`: a step, a sleep or a wait is
a leaf; ``parallel``, ``if``, ``switch`` and ``try`` put their lanes side by
side; a loop or a function call wraps its body. Each leaf is marked with what
the instance did there (``done``, ``failed``, ``running``), matching the
instance's step keys (``name``, ``name-2``...) against the graph's names,
where a name the source spells as an f-string (``fetch {url}``) matches any
text in place of each ``{...}``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pyflow_actors.models import StepInfo

from .timeline import StepState, step_state

_REPEAT = re.compile(r"-\d+$")
_STEP_KINDS = {
    "step_do": ("step", "step"),
    "step_sleep": ("sleep", "sleep"),
    "step_sleep_until": ("sleep", "sleep"),
    "step_wait_for_event": ("wait", "waitForEvent"),
}


@dataclass
class Box:
    """One shape of the diagram: a leaf (``lanes`` empty) or a container of lanes."""

    kind: str
    label: str
    detail: str = ""
    state: StepState | None = None  # None: the instance has not been there
    lanes: list[tuple[str, list[Box]]] = field(default_factory=list)


def _pattern(name: str) -> re.Pattern[str]:
    parts = re.split(r"\{[^{}]*\}", name)
    return re.compile("^" + ".+".join(re.escape(p) for p in parts) + "$")


# When one box stands for several steps (a loop, an f-string name), what it shows.
_RANK = {StepState.DONE: 0, StepState.FAILED: 1, StepState.RUNNING: 2}


def _step_states(steps: Iterable[StepInfo]) -> dict[tuple[str, str], StepState]:
    """(step type, name) -> the state to show; a failure or a running step wins over done."""
    states: dict[tuple[str, str], StepState] = {}
    for step in steps:
        state = step_state(step)
        for key in {(step.type, step.name), (step.type, _REPEAT.sub("", step.name))}:
            if key not in states or _RANK[state] > _RANK[states[key]]:
                states[key] = state
    return states


def _state_of(
    kind: str, name: str, states: Mapping[tuple[str, str], StepState]
) -> StepState | None:
    if (kind, name) in states:
        return states[(kind, name)]
    if "{" in name:
        pattern = _pattern(name)
        found = [s for (k, n), s in states.items() if k == kind and pattern.match(n)]
        return max(found, key=_RANK.__getitem__, default=None)
    return None


def _detail(node: Mapping[str, Any]) -> str:
    if node["type"] == "step_sleep":
        return str(node.get("duration") or "")
    if node["type"] == "step_sleep_until":
        return str(node.get("timestamp") or node.get("until") or "")
    if node["type"] == "step_wait_for_event":
        options = node.get("options") or {}
        return f"type {options.get('event_type', '?')}, timeout {options.get('timeout', '?')}"
    retries = (node.get("config") or {}).get("retries") or {}
    return f"retries {retries['limit']}" if "limit" in retries else ""


class _Drawing:
    def __init__(self, graph: Mapping[str, Any], steps: Iterable[StepInfo]) -> None:
        self.functions: Mapping[str, Any] = graph.get("functions") or {}
        self.states = _step_states(steps)
        self.calls: list[str] = []  # the function calls being drawn (recursion stops there)

    def boxes(self, nodes: Iterable[Mapping[str, Any]]) -> list[Box]:
        return [box for node in nodes for box in self.box(node)]

    def box(self, node: Mapping[str, Any]) -> list[Box]:
        kind = node["type"]
        if kind in _STEP_KINDS:
            shape, step_type = _STEP_KINDS[kind]
            name = str(node.get("name", ""))
            state = _state_of(step_type, name, self.states)
            return [Box(shape, name, _detail(node), state), *self.boxes(node.get("nodes", []))]
        if kind in ("parallel", "loop", "block"):
            inner = self.boxes(node.get("nodes", []))
            if kind == "block":
                return inner
            if kind == "loop":
                return [Box("loop", "", lanes=[("each", inner)])]
            lanes = [("", [b]) for b in inner] or [("", [])]
            return [Box("parallel", f"({node.get('kind', 'all')})", lanes=lanes)]
        if kind in ("if", "switch"):
            label = "" if kind == "if" else str(node.get("discriminant", ""))
            lanes = [
                (
                    str(b["condition"]) if b.get("condition") is not None else "else",
                    self.boxes(b["nodes"]),
                )
                for b in node.get("branches", [])
            ]
            return [Box(kind, label, lanes=lanes)]
        if kind == "try":
            lanes = [
                (word, self.boxes(node[key]["nodes"]))
                for key, word in (
                    ("try_block", "try"),
                    ("catch_block", "except"),
                    ("finally_block", "finally"),
                )
                if node.get(key)
            ]
            return [Box("try", "", lanes=lanes)]
        if kind == "function_call":
            return self.call(str(node.get("name", "")))
        if kind == "break":
            return [Box("break", str(node.get("kind", "break")))]
        return [Box("other", kind)]

    def call(self, name: str) -> list[Box]:
        body = self.functions.get(name)
        if body is None or name in self.calls:
            return [Box("call", f"{name}()")]
        self.calls.append(name)
        try:
            return [Box("call", f"{name}()", lanes=[("", self.boxes(body.get("nodes", [])))])]
        finally:
            self.calls.pop()


def diagram(graph: Mapping[str, Any] | None, steps: Iterable[StepInfo] = ()) -> list[Box]:
    """The boxes of a version graph (``{"version", "workflow": start node}``), in order;
    empty when there is no graph."""
    if not graph or not isinstance(graph.get("workflow"), Mapping):
        return []
    start = graph["workflow"]
    return _Drawing(start, steps).boxes(start.get("nodes", []))
