"""The walk over ``run()``: Python statements and expressions -> graph nodes.

What becomes a node (each in Cloudflare's version-graph JSON shape):

* ``step.do``: run when awaited or called, in both forms (the ``@step.do(...)``
  decorator then ``await fn()``, and ``await step.do(...)(fn)``), preceded by
  its ``depends`` that did not run yet (a ``parallel`` node when ``concurrent``);
* ``step.sleep``, ``step.sleep_until``, ``step.wait_for_event``;
* ``asyncio.gather`` (``parallel`` ``all``, or ``all_settled`` with
  ``return_exceptions=True``), ``asyncio.wait`` (``race`` when
  ``FIRST_COMPLETED``), an ``asyncio.TaskGroup`` block (``parallel`` ``all``);
* ``for``/``while`` loops and comprehensions (``loop``), ``if``/``elif``/``else``
  (``if``), ``match`` (``switch``), ``try``/``except``/``finally`` (``try``;
  several ``except`` clauses make a ``switch`` on the exception), ``break`` and
  ``return`` (``break``, a return that ends the function is not drawn);
* calls of methods of the class and of functions of the module or of ``run()``
  (``function_call``, with their body once in the workflow's ``functions``).

Control flow and calls that lead to no step are left out: the graph shows the
workflow's durable structure, not every line of Python.
"""

from __future__ import annotations

import ast
import sys
from typing import Any

from .nodes import (
    FunctionNode,
    Scope,
    StepDef,
    argument,
    block_node,
    bound,
    function_name,
    is_name,
    keyword,
    literal,
    loop,
    meaningful,
    parallel,
)
from .values import Constants, Node, duration, source_text, step_config, timestamp

_SLEEPS = {
    "sleep": "step_sleep",
    "sleep_until": "step_sleep_until",
    "sleepUntil": "step_sleep_until",
}
_WAITS = {"wait_for_event", "waitForEvent"}
_GATHER = {"asyncio.gather", "gather"}
_PASS_THROUGH = {
    "asyncio.create_task",
    "asyncio.ensure_future",
    "asyncio.shield",
    "asyncio.wait_for",
}


if sys.version_info >= (3, 11):
    TryNode = ast.Try | ast.TryStar  # try/except* is 3.11+
    TRY_NODES: tuple[type[ast.stmt], ...] = (ast.Try, ast.TryStar)
else:  # pragma: no cover - Python 3.10
    TryNode = ast.Try
    TRY_NODES = (ast.Try,)


class GraphBuilder:
    """Builds the nodes of one workflow class (see the module docstring)."""

    def __init__(self, module: ast.Module, cls: ast.ClassDef, methods: dict[str, FunctionNode]):
        self.constants = Constants(module, cls)
        self.module_functions: dict[str, FunctionNode] = {
            f.name: f for f in module.body if isinstance(f, FunctionNode)
        }
        self.methods = methods
        self.functions: dict[str, Node] = {}
        self._visited: dict[int, str | None] = {}  # id(def) -> its functions key, None: no steps

    # -- functions -------------------------------------------------------------

    def body(self, fn: FunctionNode, scope: Scope) -> list[Node]:
        return self.block(fn.body, scope, top=True)

    def call_function(
        self, fn: FunctionNode, call: ast.Call, scope: Scope, *, method: bool
    ) -> list[Node]:
        key = self._visited.get(id(fn), "")
        if key == "":  # first call: walk its body once
            key = fn.name if fn.name not in self.functions else f"{fn.name}:{fn.lineno}"
            self._visited[id(fn)] = key  # a recursive call meets this key
            params = [a.arg for a in fn.args.posonlyargs + fn.args.args][1 if method else 0 :]
            passed = {
                params[i]
                for i, arg in enumerate(call.args)
                if i < len(params) and isinstance(arg, ast.Name) and arg.id in scope.step_vars
            }
            passed |= {k.arg for k in call.keywords if k.arg and is_name(k.value, scope.step_vars)}
            nodes = self.body(fn, scope.inner(passed | {"step"}))
            if meaningful(nodes):
                self.functions[key] = {"type": "function_def", "name": key, "nodes": nodes}
            else:
                self._visited[id(fn)] = key = None
        if key is None:
            return []
        return [{"type": "function_call", "name": key}]

    # -- statements ------------------------------------------------------------

    def block(self, stmts: list[ast.stmt], scope: Scope, *, top: bool = False) -> list[Node]:
        nodes: list[Node] = []
        for stmt in stmts:
            nodes.extend(self.statement(stmt, scope, top))
        return nodes

    def statement(self, stmt: ast.stmt, scope: Scope, top: bool) -> list[Node]:  # noqa: C901
        if isinstance(stmt, FunctionNode):
            return self._define(stmt, scope)
        if isinstance(stmt, ast.Assign | ast.AnnAssign) and stmt.value is not None:
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            definition = self.step_ref(stmt.value, scope)
            if definition is not None and len(targets) == 1 and isinstance(targets[0], ast.Name):
                scope.steps[targets[0].id] = bound(definition, targets[0].id)
                return []
            return self.expr(stmt.value, scope)
        if isinstance(stmt, ast.Return):
            value = self.awaited(stmt.value, scope) if stmt.value is not None else []
            return value if top else [*value, {"type": "break", "kind": "return"}]
        if isinstance(stmt, ast.Break):
            return [{"type": "break", "kind": "break"}]
        if isinstance(stmt, ast.If):
            return self._if(stmt, scope)
        if isinstance(stmt, ast.For | ast.AsyncFor):
            before = self.expr(stmt.iter, scope)
            return before + loop(self.block(stmt.body, scope)) + self.block(stmt.orelse, scope)
        if isinstance(stmt, ast.While):
            inner = self.expr(stmt.test, scope) + self.block(stmt.body, scope)
            return loop(inner) + self.block(stmt.orelse, scope)
        if isinstance(stmt, TRY_NODES):
            return self._try(stmt, scope)
        if isinstance(stmt, ast.Match):
            return self._match(stmt, scope)
        if isinstance(stmt, ast.With | ast.AsyncWith):
            return self._with(stmt, scope)
        nodes: list[Node] = []
        for child in ast.iter_child_nodes(stmt):
            if isinstance(child, ast.expr):
                nodes.extend(self.expr(child, scope))
        return nodes

    def _define(self, fn: FunctionNode, scope: Scope) -> list[Node]:
        for decorator in fn.decorator_list:
            if isinstance(decorator, ast.Call) and self._is_do(decorator.func, scope):
                scope.steps[fn.name] = bound(self.step_def(decorator, fn.name), fn.name)
                return []
        scope.functions[fn.name] = fn
        return []

    def _if(self, stmt: ast.If, scope: Scope) -> list[Node]:
        before: list[Node] = []
        branches: list[dict[str, Any]] = []
        node: ast.If = stmt
        while True:
            before.extend(self.expr(node.test, scope))
            branches.append(
                {"condition": source_text(node.test), "nodes": self.block(node.body, scope)}
            )
            if len(node.orelse) == 1 and isinstance(node.orelse[0], ast.If):
                node = node.orelse[0]
                continue
            if node.orelse:
                branches.append({"condition": None, "nodes": self.block(node.orelse, scope)})
            break
        if not meaningful([n for b in branches for n in b["nodes"]], breaks=True):
            return before
        return [*before, {"type": "if", "branches": branches}]

    def _try(self, stmt: TryNode, scope: Scope) -> list[Node]:
        tried = self.block(stmt.body + stmt.orelse, scope)
        caught: list[Node] | None = None
        branches: list[dict[str, Any]]
        if len(stmt.handlers) == 1:
            caught = self.block(stmt.handlers[0].body, scope)
        elif stmt.handlers:
            branches = [
                {
                    "condition": source_text(h.type) if h.type is not None else None,
                    "nodes": self.block(h.body, scope),
                }
                for h in stmt.handlers
            ]
            caught = [{"type": "switch", "discriminant": "exception", "branches": branches}]
            if not meaningful([n for b in branches for n in b["nodes"]], breaks=True):
                caught = []
        final = self.block(stmt.finalbody, scope) if stmt.finalbody else None
        if not meaningful(tried + (caught or []) + (final or []), breaks=True):
            return []
        return [
            {
                "type": "try",
                "try_block": block_node(tried),
                "catch_block": block_node(caught) if caught is not None else None,
                "finally_block": block_node(final) if final is not None else None,
            }
        ]

    def _match(self, stmt: ast.Match, scope: Scope) -> list[Node]:
        before = self.expr(stmt.subject, scope)
        branches: list[dict[str, Any]] = []
        for case in stmt.cases:
            wildcard = isinstance(case.pattern, ast.MatchAs) and case.pattern.pattern is None
            condition = None if wildcard and case.guard is None else ast.unparse(case.pattern)
            if case.guard is not None:
                condition = f"{ast.unparse(case.pattern)} if {source_text(case.guard)}"
            branches.append({"condition": condition, "nodes": self.block(case.body, scope)})
        if not meaningful([n for b in branches for n in b["nodes"]], breaks=True):
            return before
        switch = {"type": "switch", "discriminant": source_text(stmt.subject), "branches": branches}
        return [*before, switch]

    def _with(self, stmt: ast.With | ast.AsyncWith, scope: Scope) -> list[Node]:
        before: list[Node] = []
        group = False
        for item in stmt.items:
            expr = item.context_expr
            if isinstance(expr, ast.Call) and ast.unparse(expr.func) in (
                "asyncio.TaskGroup",
                "TaskGroup",
            ):
                group = True
            else:
                before.extend(self.expr(expr, scope))
        inner = self.block(stmt.body, scope)
        if group and meaningful(inner):
            return [*before, {"type": "parallel", "kind": "all", "nodes": inner}]
        return before + inner

    # -- expressions -----------------------------------------------------------

    def expr(self, expr: ast.expr, scope: Scope) -> list[Node]:
        if isinstance(expr, ast.Await):
            return self.awaited(expr.value, scope)
        if isinstance(expr, ast.Call):
            return self.call(expr, scope)
        if isinstance(expr, ast.Lambda):
            return []  # its body runs later, if at all
        if isinstance(expr, ast.ListComp | ast.SetComp | ast.GeneratorExp | ast.DictComp):
            return self.comprehension(expr, scope, awaited=False)
        nodes: list[Node] = []
        for child in ast.iter_child_nodes(expr):
            if isinstance(child, ast.expr):
                nodes.extend(self.expr(child, scope))
        return nodes

    def awaited(self, expr: ast.expr, scope: Scope) -> list[Node]:
        """Nodes of something awaited (or handed to gather): a step definition runs."""
        definition = self.step_ref(expr, scope)
        if definition is not None:
            return self.run(definition, scope)
        if isinstance(expr, ast.List | ast.Tuple | ast.Set):
            return [n for e in expr.elts for n in self.awaited(e, scope)]
        if isinstance(expr, ast.Starred):
            return self.awaited(expr.value, scope)
        if isinstance(expr, ast.ListComp | ast.SetComp | ast.GeneratorExp):
            return self.comprehension(expr, scope, awaited=True)
        return self.expr(expr, scope)

    def comprehension(
        self,
        expr: ast.ListComp | ast.SetComp | ast.GeneratorExp | ast.DictComp,
        scope: Scope,
        *,
        awaited: bool,
    ) -> list[Node]:
        before = self.expr(expr.generators[0].iter, scope)
        if isinstance(expr, ast.DictComp):
            inner = self.expr(expr.key, scope) + self.expr(expr.value, scope)
        elif awaited:
            inner = self.awaited(expr.elt, scope)
        else:
            inner = self.expr(expr.elt, scope)
        return before + loop(inner)

    def call(self, call: ast.Call, scope: Scope) -> list[Node]:  # noqa: C901
        func = call.func
        if isinstance(func, ast.Attribute) and is_name(func.value, scope.step_vars):
            if func.attr in _SLEEPS:
                return [self._sleep(call, _SLEEPS[func.attr])]
            if func.attr in _WAITS:
                return [self._wait_for_event(call)]
            if func.attr == "do":
                return []  # a definition: it runs when awaited or called
        definition = self.step_ref(func, scope)
        if definition is not None:
            return self.run(definition, scope)
        if self.step_ref(call, scope) is not None:
            return []  # step.do(...)(fn) defines a step; awaiting it runs it
        name = ast.unparse(func)
        arguments = [*call.args, *(k.value for k in call.keywords)]
        if name in _GATHER:
            settled = any(
                k.arg == "return_exceptions" and literal(k.value) is True for k in call.keywords
            )
            inner = [n for a in call.args for n in self.awaited(a, scope)]
            return parallel("all_settled" if settled else "all", inner)
        if name == "asyncio.wait" and call.args:
            when = next((k.value for k in call.keywords if k.arg == "return_when"), None)
            first = when is not None and ast.unparse(when).endswith("FIRST_COMPLETED")
            return parallel("race" if first else "all_settled", self.awaited(call.args[0], scope))
        if (name in _PASS_THROUGH or name.endswith(".create_task")) and call.args:
            rest = [n for a in arguments[1:] for n in self.expr(a, scope)]
            return self.awaited(call.args[0], scope) + rest
        before = [n for a in arguments for n in self.expr(a, scope)]
        local = self._local_function(func, scope)
        if local is not None:
            fn, method = local
            return before + self.call_function(fn, call, scope, method=method)
        return self.expr(func, scope) + before

    def _local_function(self, func: ast.expr, scope: Scope) -> tuple[FunctionNode, bool] | None:
        if isinstance(func, ast.Name):
            if func.id in scope.functions:
                return scope.functions[func.id], False
            if func.id in self.module_functions:
                return self.module_functions[func.id], False
        if (
            isinstance(func, ast.Attribute)
            and is_name(func.value, {"self", "cls"})
            and func.attr in self.methods
            and func.attr != "run"
        ):
            return self.methods[func.attr], True
        return None

    # -- steps -----------------------------------------------------------------

    def _is_do(self, func: ast.expr, scope: Scope) -> bool:
        return (
            isinstance(func, ast.Attribute)
            and func.attr == "do"
            and is_name(func.value, scope.step_vars)
        )

    def step_ref(self, expr: ast.expr, scope: Scope) -> StepDef | None:
        """The step an expression stands for (a bound name, ``step.do(n, fn)``,
        ``step.do(n)(fn)``), or None."""
        if isinstance(expr, ast.Name):
            return scope.steps.get(expr.id)
        if not isinstance(expr, ast.Call):
            return None
        if self._is_do(expr.func, scope):
            has_fn = len(expr.args) >= 2 or any(k.arg == "fn" for k in expr.keywords)
            return self.step_def(expr, None) if has_fn else None
        if isinstance(expr.func, ast.Call) and self._is_do(expr.func.func, scope):
            return self.step_def(expr.func, function_name(expr.args[0]) if expr.args else None)
        return None

    def step_def(self, do: ast.Call, fn_name: str | None) -> StepDef:
        name_expr = do.args[0] if do.args else keyword(do, "name")
        name = source_text(name_expr) if name_expr is not None else (fn_name or "step")
        if isinstance(name_expr, ast.Constant) and isinstance(name_expr.value, str):
            name = name_expr.value
        config_expr = keyword(do, "config")
        config = self.constants.evaluate(config_expr) if config_expr is not None else None
        depends_expr = keyword(do, "depends")
        depends = []
        if isinstance(depends_expr, ast.List | ast.Tuple):
            depends = [e.id for e in depends_expr.elts if isinstance(e, ast.Name)]
        concurrent = keyword(do, "concurrent")
        return StepDef(
            name=name,
            config=step_config(config),
            depends=depends,
            concurrent=concurrent is not None and literal(concurrent) is True,
        )

    def run(self, definition: StepDef, scope: Scope) -> list[Node]:
        """A step runs: first its dependencies that have not run yet."""
        pending = [
            scope.steps[d] for d in definition.depends if d in scope.steps and d not in scope.ran
        ]
        runs = []
        for dependency in pending:
            runs.append(self.run(dependency, scope))
        if definition.concurrent and len(runs) > 1:
            before = parallel("all", [n for r in runs for n in r])
        else:
            before = [n for r in runs for n in r]
        if definition.local is not None:
            scope.ran.add(definition.local)
        return [*before, definition.node()]

    def _sleep(self, call: ast.Call, kind: str) -> Node:
        name = argument(call, 0, "name")
        value = argument(call, 1, "timestamp" if kind == "step_sleep_until" else "duration")
        node: Node = {"type": kind, "name": source_text(name) if name is not None else ""}
        if kind == "step_sleep_until":
            node["timestamp"] = timestamp(self._value(value))
        else:
            node["duration"] = duration(self._value(value))
        return node

    def _wait_for_event(self, call: ast.Call) -> Node:
        name = argument(call, 0, "name")
        event_type = argument(call, 1, "event_type")
        timeout = argument(call, 2, "timeout")
        options = {
            "event_type": source_text(event_type) if event_type is not None else "",
            # A number there is milliseconds, as Cloudflare's JS waitForEvent options.
            "timeout": duration(self._value(timeout), number_unit=0.001)
            if timeout is not None
            else "24 hours",
        }
        return {
            "type": "step_wait_for_event",
            "name": source_text(name) if name is not None else "",
            "options": options,
        }

    def _value(self, expr: ast.expr | None) -> Any:
        return self.constants.evaluate(expr) if expr is not None else None
