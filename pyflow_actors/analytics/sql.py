"""An :class:`~.query.AnalyticsQuery` as one parameterised SQL statement.

Every name that reaches the SQL text comes from the fixed maps below (the
query model has already refused anything else); every value is a parameter.
"""

from __future__ import annotations

from typing import Any

from .query import (
    DIMENSIONS,
    QUANTILES,
    RAW_FIELDS,
    AnalyticsQuery,
    Condition,
    parse_date,
    parse_time,
)

COLUMNS = {
    "workflowName": "workflow_name",
    "instanceId": "instance_id",
    "stepName": "step_name",
    "eventType": "event_type",
    "stepCount": "step_count",
    "date": "date",
    "datetime": "datetime",
    "datetimeMinute": "datetime_minute",
    "datetimeFiveMinutes": "datetime_five_minutes",
    "datetimeFifteenMinutes": "datetime_fifteen_minutes",
    "datetimeHour": "datetime_hour",
    "wallTime": "wall_time",
}
AGGREGATES = {
    "count": "count(*)",
    "sum_wallTime": "coalesce(sum(wall_time), 0)",
    "avg_wallTime": "avg(wall_time)",
    "min_wallTime": "min(wall_time)",
    "max_wallTime": "max(wall_time)",
    **{name: f"quantile_cont(wall_time, {q})" for name, q in QUANTILES.items()},
}
_OPERATORS = {"eq": "=", "neq": "<>", "gt": ">", "geq": ">=", "lt": "<", "leq": "<="}


def _bind(condition: Condition, value: Any) -> Any:
    kind = DIMENSIONS[condition.field]
    if kind == "time":
        return parse_time(value)
    if kind == "date":
        return parse_date(value)
    return value


def where_clause(conditions: list[Condition]) -> tuple[str, list[Any]]:
    parts, params = [], []
    for condition in conditions:
        column = COLUMNS[condition.field]
        if condition.op in ("in", "notin"):
            values = [_bind(condition, v) for v in condition.value]
            if not values:
                parts.append("false" if condition.op == "in" else "true")
                continue
            marks = ", ".join("?" for _ in values)
            negate = "NOT " if condition.op == "notin" else ""
            parts.append(f"{column} {negate}IN ({marks})")
            params.extend(values)
        else:
            parts.append(f"{column} {_OPERATORS[condition.op]} ?")
            params.append(_bind(condition, condition.value))
    return (" WHERE " + " AND ".join(parts)) if parts else "", params


def build_query(query: AnalyticsQuery) -> tuple[str, list[Any], list[str]]:
    """``(sql, params, column names of the result)``."""
    where, params = where_clause(query.filters)
    order = ", ".join(f'"{o.field}" {o.direction} NULLS LAST' for o in query.order_by)
    if query.dataset == "workflowsAdaptive":
        names = list(RAW_FIELDS)
        select = ", ".join(f'{COLUMNS[n]} AS "{n}"' for n in names)
        order = order or '"datetime" ASC'
        sql = f"SELECT {select} FROM events{where} ORDER BY {order}, event_key LIMIT {query.limit}"
        return sql, params, names
    dimensions = list(dict.fromkeys(query.dimensions))
    names = dimensions + list(AGGREGATES)
    select = ", ".join(
        [f'{COLUMNS[d]} AS "{d}"' for d in dimensions]
        + [f'{expr} AS "{name}"' for name, expr in AGGREGATES.items()]
    )
    group = (" GROUP BY " + ", ".join(COLUMNS[d] for d in dimensions)) if dimensions else ""
    # A stable order for ties: the dimensions themselves.
    tie = ", ".join(f'"{d}" ASC' for d in dimensions)
    order_sql = ", ".join(p for p in (order, tie) if p)
    sql = f"SELECT {select} FROM events{where}{group}"
    if order_sql:
        sql += f" ORDER BY {order_sql}"
    return sql + f" LIMIT {query.limit}", params, names
