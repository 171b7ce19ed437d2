"""The GraphQL Analytics schema, in Cloudflare's own names.

The SDL is generated from the analytics query model's dimension list, so the
filter inputs (``datetimeHour_geq``, ``eventType_in``...) and the ``orderBy``
enums (``count_DESC``, ``datetime_ASC``...) cannot drift from what the store
answers. The scalars are Cloudflare's: ``string`` (lower case), ``Time``
(RFC 3339), ``Date``, ``uint64`` and ``float64``, so that queries written for
Cloudflare's API (``$accountTag: string!``, ``$datetimeStart: Time``) validate
here unchanged.
"""

from __future__ import annotations

from typing import Any

from ariadne import ScalarType
from graphql import (
    BooleanValueNode,
    FloatValueNode,
    IntValueNode,
    StringValueNode,
    ValueNode,
)

from pyflow_actors.analytics.query import (
    DIMENSIONS,
    GROUP_METRICS,
    QUANTILES,
    RAW_FIELDS,
    parse_date,
    parse_time,
)
from pyflow_actors.errors import PyflowError

_SCALAR = {"string": "string", "int": "uint64", "date": "Date", "time": "Time"}
_RANGE_OPERATORS = ("neq", "gt", "geq", "lt", "leq")
_LIST_OPERATORS = ("in", "notin")


def _filter_input(name: str) -> str:
    lines = []
    for field, kind in DIMENSIONS.items():
        scalar = _SCALAR[kind]
        lines.append(f"  {field}: {scalar}")
        lines += [f"  {field}_{op}: {scalar}" for op in _RANGE_OPERATORS]
        lines += [f"  {field}_{op}: [{scalar}!]" for op in _LIST_OPERATORS]
    lines.append(f"  AND: [{name}!]")
    return f"input {name} {{\n" + "\n".join(lines) + "\n}"


def _order_enum(name: str, fields: tuple[str, ...]) -> str:
    values = [f"  {field}_{direction}" for field in fields for direction in ("ASC", "DESC")]
    return f"enum {name} {{\n" + "\n".join(values) + "\n}"


def _fields(names: tuple[str, ...] | list[str]) -> str:
    kinds: dict[str, str] = {**{d: _SCALAR[k] for d, k in DIMENSIONS.items()}, "wallTime": "uint64"}
    return "\n".join(f"  {name}: {kinds[name]}" for name in names)


_QUANTILE_FIELDS = "\n".join(f"  {name}: float64" for name in QUANTILES)

SDL = f'''
"""A string (Cloudflare's lower-case scalar)."""
scalar string
"""An RFC 3339 time, e.g. 2024-10-20T00:00:00Z."""
scalar Time
"""A date, YYYY-MM-DD."""
scalar Date
scalar uint64
scalar float64

type Query {{
  viewer: Viewer
}}

type Viewer {{
  "The accounts the filter names; the API token must hold each of them."
  accounts(filter: AccountFilter!): [Account!]!
}}

input AccountFilter {{
  accountTag: string
  accountTag_in: [string!]
}}

type Account {{
  accountTag: string!
  "Metrics events grouped by the dimensions selected (31 days kept)."
  workflowsAdaptiveGroups(
    limit: uint64!
    filter: WorkflowsAdaptiveGroupsFilter
    orderBy: [WorkflowsAdaptiveGroupsOrderBy!]
  ): [WorkflowsAdaptiveGroups!]!
  "Metrics events, one row each."
  workflowsAdaptive(
    limit: uint64!
    filter: WorkflowsAdaptiveFilter
    orderBy: [WorkflowsAdaptiveOrderBy!]
  ): [WorkflowsAdaptive!]!
}}

type WorkflowsAdaptiveGroups {{
  count: uint64!
  "wallTime is in milliseconds."
  sum: WorkflowsAdaptiveGroupsSum
  avg: WorkflowsAdaptiveGroupsAvg
  max: WorkflowsAdaptiveGroupsMax
  min: WorkflowsAdaptiveGroupsMin
  quantiles: WorkflowsAdaptiveGroupsQuantiles
  dimensions: WorkflowsAdaptiveGroupsDimensions
}}

type WorkflowsAdaptiveGroupsSum {{
  wallTime: uint64
}}

type WorkflowsAdaptiveGroupsAvg {{
  wallTime: float64
}}

type WorkflowsAdaptiveGroupsMax {{
  wallTime: uint64
}}

type WorkflowsAdaptiveGroupsMin {{
  wallTime: uint64
}}

type WorkflowsAdaptiveGroupsQuantiles {{
{_QUANTILE_FIELDS}
}}

type WorkflowsAdaptiveGroupsDimensions {{
{_fields(list(DIMENSIONS))}
}}

type WorkflowsAdaptive {{
{_fields(RAW_FIELDS)}
}}

{_filter_input("WorkflowsAdaptiveGroupsFilter")}

{_filter_input("WorkflowsAdaptiveFilter")}

{_order_enum("WorkflowsAdaptiveGroupsOrderBy", (*GROUP_METRICS, *DIMENSIONS))}

{_order_enum("WorkflowsAdaptiveOrderBy", RAW_FIELDS)}
'''


class ScalarValueError(ValueError):
    """A scalar value of the wrong shape (graphql-core turns it into a query error)."""


def _literal(node: ValueNode) -> Any:
    if isinstance(node, StringValueNode):
        return node.value
    if isinstance(node, IntValueNode):
        return int(node.value)
    if isinstance(node, FloatValueNode):
        return float(node.value)
    if isinstance(node, BooleanValueNode):
        return node.value
    raise ScalarValueError("expected a scalar value")


def _string(value: Any) -> str:
    if not isinstance(value, str):
        raise ScalarValueError(f"string expected, got {value!r}")
    return value


def _checked(check: Any) -> Any:
    def parse(value: Any) -> str:
        text = _string(value)
        try:
            check(text)
        except PyflowError as exc:
            raise ScalarValueError(exc.message) from None
        return text

    return parse


def _uint64(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ScalarValueError(f"a whole number >= 0 expected, got {value!r}")
    return value


def _scalar(name: str, parse: Any, serialize: Any = None) -> ScalarType:
    def parse_literal(node: ValueNode, variables: Any = None) -> Any:
        return parse(_literal(node))

    return ScalarType(name, serializer=serialize, value_parser=parse, literal_parser=parse_literal)


SCALARS = [
    _scalar("string", _string),
    _scalar("Time", _checked(parse_time)),
    _scalar("Date", _checked(parse_date)),
    _scalar("uint64", _uint64),
    _scalar("float64", lambda v: float(v), serialize=lambda v: None if v is None else float(v)),
]
