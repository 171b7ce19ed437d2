"""Resolvers: GraphQL arguments and selections -> :class:`AnalyticsQuery` -> rows.

The gateway never opens the analytics store: every dataset field becomes one
``transport.analytics_query(query)`` call. For ``workflowsAdaptiveGroups`` the
group-by is the set of fields selected under ``dimensions`` (by their real
names: an alias such as ``date: datetimeHour`` groups by ``datetimeHour``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ariadne import ObjectType, QueryType, make_executable_schema
from graphql import (
    FieldNode,
    FragmentSpreadNode,
    GraphQLResolveInfo,
    GraphQLSchema,
    InlineFragmentNode,
    SelectionSetNode,
)

from pyflow_actors.analytics.query import QUANTILES, AnalyticsQuery, Condition, Dataset, Order
from pyflow_actors.config import TokenSpec
from pyflow_actors.errors import AnalyticsUnavailable, Forbidden, InvalidAnalyticsQuery

from .schema import SCALARS, SDL

_OPERATORS = {"neq", "gt", "geq", "lt", "leq", "in", "notin"}


@dataclass(frozen=True)
class Context:
    """What every resolver may use: the caller's token and the engine transport."""

    token: TokenSpec
    transport: Any


if TYPE_CHECKING:
    Info = GraphQLResolveInfo[Context]
else:  # not subscriptable at run time on every Python graphql-core supports
    Info = GraphQLResolveInfo


def conditions(filter_: dict[str, Any] | None) -> list[Condition]:
    """``{datetimeHour_geq: t, workflowName: w, AND: [...]}`` as conditions (ANDed).

    A filter field whose value is null (an unset variable) is no condition."""
    out: list[Condition] = []
    for key, value in (filter_ or {}).items():
        if key == "AND":
            for nested in value or []:
                out.extend(conditions(nested))
            continue
        if value is None:
            continue
        field, _, op = key.rpartition("_")
        if not field or op not in _OPERATORS:
            field, op = key, "eq"
        out.append(Condition(field=field, op=op, value=value))  # type: ignore[arg-type]
    return out


def orders(order_by: list[str] | None) -> list[Order]:
    out = []
    for value in order_by or []:
        field, _, direction = value.rpartition("_")
        out.append(Order(field=field, direction=direction))  # type: ignore[arg-type]
    return out


def _fields(selection: SelectionSetNode | None, info: Info) -> Iterator[FieldNode]:
    """The fields of a selection set, through fragments."""
    for node in selection.selections if selection else ():
        if isinstance(node, FieldNode):
            yield node
        elif isinstance(node, InlineFragmentNode):
            yield from _fields(node.selection_set, info)
        elif isinstance(node, FragmentSpreadNode):
            yield from _fields(info.fragments[node.name.value].selection_set, info)


def selected_dimensions(info: Info) -> list[str]:
    """The real names of the fields selected under ``dimensions`` (aliases resolved)."""
    names: list[str] = []
    for node in info.field_nodes:
        for field in _fields(node.selection_set, info):
            if field.name.value == "dimensions":
                names += [
                    f.name.value
                    for f in _fields(field.selection_set, info)
                    if not f.name.value.startswith("__")
                ]
    return list(dict.fromkeys(names))


async def _ask(info: Info, query: AnalyticsQuery) -> list[dict[str, Any]]:
    context = info.context
    ask = getattr(context.transport, "analytics_query", None)
    if ask is None:
        raise AnalyticsUnavailable("this engine does not answer analytics queries")
    result = await ask(query)
    return list(result.rows)


def _query(dataset: Dataset, info: Info, args: dict[str, Any]) -> AnalyticsQuery:
    limit = args.get("limit")
    if not isinstance(limit, int):
        raise InvalidAnalyticsQuery("limit is required")
    return AnalyticsQuery(
        dataset=dataset,
        filters=conditions(args.get("filter")),
        dimensions=selected_dimensions(info) if dataset == "workflowsAdaptiveGroups" else [],
        order_by=orders(args.get("orderBy")),
        limit=limit,
    )


query_type = QueryType()
viewer_type = ObjectType("Viewer")
account_type = ObjectType("Account")


@query_type.field("viewer")
def resolve_viewer(_: Any, info: Info) -> dict[str, Any]:
    return {}


@viewer_type.field("accounts")
def resolve_accounts(_: Any, info: Info, filter: dict[str, Any]) -> list[dict[str, str]]:
    tags = list(filter.get("accountTag_in") or [])
    if filter.get("accountTag") is not None:
        tags.insert(0, filter["accountTag"])
    if not tags:
        raise InvalidAnalyticsQuery("accounts needs filter: {accountTag: $accountTag}")
    token = info.context.token
    refused = [tag for tag in tags if tag not in token.accounts]
    if refused:
        raise Forbidden(f"this API token is not allowed on account(s) {refused}")
    return [{"accountTag": tag} for tag in dict.fromkeys(tags)]


@account_type.field("workflowsAdaptiveGroups")
async def resolve_groups(_: Any, info: Info, **args: Any) -> list[dict[str, Any]]:
    query = _query("workflowsAdaptiveGroups", info, args)
    return [
        {
            "count": row["count"],
            "sum": {"wallTime": row["sum_wallTime"]},
            "avg": {"wallTime": row["avg_wallTime"]},
            "max": {"wallTime": row["max_wallTime"]},
            "min": {"wallTime": row["min_wallTime"]},
            "quantiles": {name: row[name] for name in QUANTILES},
            "dimensions": {name: row[name] for name in query.dimensions},
        }
        for row in await _ask(info, query)
    ]


@account_type.field("workflowsAdaptive")
async def resolve_rows(_: Any, info: Info, **args: Any) -> list[dict[str, Any]]:
    return await _ask(info, _query("workflowsAdaptive", info, args))


def build_schema() -> GraphQLSchema:
    return make_executable_schema(SDL, query_type, viewer_type, account_type, *SCALARS)
