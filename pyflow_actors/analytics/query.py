"""The analytics query: what GraphQL (or any client) asks the analytics store.

A plain pydantic model that crosses process boundaries (gateway -> Ray ->
supervisor), with no storage code, so that clients and the gateway can import
it without DuckDB. Field names are Cloudflare's GraphQL names (``workflowName``,
``datetimeHour``...); the store maps them to its columns.

.. code-block:: python

    AnalyticsQuery(
        dataset="workflowsAdaptiveGroups",
        dimensions=["datetimeHour"],
        filters=[Condition(field="workflowName", op="eq", value="shop")],
        order_by=[Order(field="count", direction="DESC")],
        limit=100,
    )
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..errors import InvalidAnalyticsQuery

Dataset = Literal["workflowsAdaptiveGroups", "workflowsAdaptive"]
Operator = Literal["eq", "neq", "gt", "geq", "lt", "leq", "in", "notin"]
FieldKind = Literal["string", "int", "date", "time"]

# Dimension name -> the kind of its values (what filters on it must look like).
DIMENSIONS: dict[str, FieldKind] = {
    "workflowName": "string",
    "instanceId": "string",
    "stepName": "string",
    "eventType": "string",
    "stepCount": "int",
    "date": "date",
    "datetime": "time",
    "datetimeMinute": "time",
    "datetimeFiveMinutes": "time",
    "datetimeFifteenMinutes": "time",
    "datetimeHour": "time",
}
# Aggregates a group can be ordered by (besides its dimensions).
GROUP_METRICS = ("count", "sum_wallTime", "avg_wallTime", "max_wallTime", "min_wallTime")
# Raw rows have every dimension plus their wallTime.
RAW_FIELDS = (*DIMENSIONS, "wallTime")
QUANTILES = {"wallTimeP50": 0.5, "wallTimeP75": 0.75, "wallTimeP90": 0.9, "wallTimeP99": 0.99}
MAX_LIMIT = 10_000


def parse_time(value: str) -> dt.datetime:
    """An RFC 3339 time (``2024-10-20T00:00:00Z``) as a naive UTC datetime."""
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except (ValueError, AttributeError):
        raise InvalidAnalyticsQuery(
            f"{value!r} is not a time: use RFC 3339, e.g. 2024-10-20T00:00:00Z"
        ) from None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return parsed


def parse_date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except (ValueError, TypeError):
        raise InvalidAnalyticsQuery(f"{value!r} is not a date: use YYYY-MM-DD") from None


def render_time(value: dt.datetime) -> str:
    """A naive UTC datetime as Cloudflare renders a ``Time``: ``2024-10-20T10:00:00Z``."""
    return value.replace(microsecond=0).isoformat() + "Z"


class Condition(BaseModel):
    """``field <op> value``; ``in``/``notin`` take a list."""

    model_config = ConfigDict(frozen=True)

    field: str
    op: Operator = "eq"
    value: Any

    @model_validator(mode="after")
    def _check(self) -> Condition:
        kind = DIMENSIONS.get(self.field)
        if kind is None:
            raise InvalidAnalyticsQuery(
                f"unknown filter field {self.field!r}: use one of {sorted(DIMENSIONS)}"
            )
        values = self.value if self.op in ("in", "notin") else [self.value]
        if not isinstance(values, list):
            raise InvalidAnalyticsQuery(f"filter {self.field}_{self.op} takes a list")
        for value in values:
            check_value(kind, value, self.field)
        return self


def check_value(kind: FieldKind, value: Any, field: str) -> None:
    """Refuse a filter value of the wrong kind (a clear 400, never a SQL error)."""
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidAnalyticsQuery(f"filter on {field!r} takes a whole number, not {value!r}")
    elif not isinstance(value, str):
        raise InvalidAnalyticsQuery(f"filter on {field!r} takes a string, not {value!r}")
    elif kind == "time":
        parse_time(value)
    elif kind == "date":
        parse_date(value)


class Order(BaseModel):
    model_config = ConfigDict(frozen=True)

    field: str
    direction: Literal["ASC", "DESC"] = "ASC"


class AnalyticsQuery(BaseModel):
    """One dataset query: filters (ANDed), dimensions, order and limit.

    For ``workflowsAdaptiveGroups`` the dimensions are the group-by; for
    ``workflowsAdaptive`` (raw rows) they are ignored: every field is returned.
    """

    model_config = ConfigDict(frozen=True)

    dataset: Dataset
    filters: list[Condition] = Field(default_factory=list)
    dimensions: list[str] = Field(default_factory=list)
    order_by: list[Order] = Field(default_factory=list)
    limit: int = 100

    @model_validator(mode="after")
    def _check(self) -> AnalyticsQuery:
        if not 1 <= self.limit <= MAX_LIMIT:
            raise InvalidAnalyticsQuery(
                f"limit must be between 1 and {MAX_LIMIT}, not {self.limit}"
            )
        unknown = [d for d in self.dimensions if d not in DIMENSIONS]
        if unknown:
            raise InvalidAnalyticsQuery(
                f"unknown dimension(s) {unknown}: use some of {sorted(DIMENSIONS)}"
            )
        for order in self.order_by:
            if self.dataset == "workflowsAdaptive":
                allowed: tuple[str, ...] = RAW_FIELDS
            else:
                allowed = (*GROUP_METRICS, *self.dimensions)
            if order.field not in allowed:
                hint = (
                    f"select dimensions {{ {order.field} }} to order by it"
                    if order.field in DIMENSIONS
                    else f"order by one of {list(allowed)}"
                )
                raise InvalidAnalyticsQuery(f"cannot order by {order.field!r}: {hint}")
        return self


class AnalyticsResult(BaseModel):
    """Rows as plain JSON values.

    Groups: the dimensions asked for, ``count``, ``sum_wallTime``,
    ``avg_wallTime``, ``min_wallTime``, ``max_wallTime`` and the
    ``wallTimeP50``... quantiles. Raw rows: every field of :data:`RAW_FIELDS`.
    Times are rendered ``2024-10-20T10:00:00Z``, dates ``2024-10-20``.
    """

    rows: list[dict[str, Any]] = Field(default_factory=list)
