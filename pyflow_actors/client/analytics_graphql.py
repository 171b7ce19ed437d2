"""An :class:`AnalyticsQuery` as a GraphQL request to the gateway, and back.

The HTTP transport answers ``analytics_query`` through the gateway's
``POST /client/v4/graphql`` (the same path any GraphQL client takes), so that
both transports answer the same query with the same rows.
"""

from __future__ import annotations

from typing import Any

from ..analytics.query import QUANTILES, RAW_FIELDS, AnalyticsQuery, AnalyticsResult
from ..errors import PyflowError, error_class_for_code

_FILTER_TYPES = {
    "workflowsAdaptiveGroups": "WorkflowsAdaptiveGroupsFilter",
    "workflowsAdaptive": "WorkflowsAdaptiveFilter",
}
_AGGREGATES = ("sum", "avg", "max", "min")


def _selection(query: AnalyticsQuery) -> str:
    if query.dataset == "workflowsAdaptive":
        return " ".join(RAW_FIELDS)
    parts = ["count", *(f"{a} {{ wallTime }}" for a in _AGGREGATES)]
    parts.append("quantiles { " + " ".join(QUANTILES) + " }")
    if query.dimensions:
        parts.append("dimensions { " + " ".join(query.dimensions) + " }")
    return " ".join(parts)


def graphql_request(query: AnalyticsQuery, account: str) -> dict[str, Any]:
    """The JSON body of the GraphQL request that asks ``query`` on ``account``.

    Names in the text come from the validated query (fixed vocabularies);
    values travel as variables."""
    conditions = [
        {c.field if c.op == "eq" else f"{c.field}_{c.op}": c.value} for c in query.filters
    ]
    order = ", ".join(f"{o.field}_{o.direction}" for o in query.order_by)
    text = (
        f"query ($accountTag: string!, $filter: {_FILTER_TYPES[query.dataset]}) {{ viewer {{ "
        "accounts(filter: {accountTag: $accountTag}) { "
        f"rows: {query.dataset}(limit: {query.limit}, filter: $filter, orderBy: [{order}]) "
        f"{{ {_selection(query)} }} }} }} }}"
    )
    return {"query": text, "variables": {"accountTag": account, "filter": {"AND": conditions}}}


def _flatten(row: dict[str, Any]) -> dict[str, Any]:
    flat: dict[str, Any] = dict(row.get("dimensions") or {})
    flat["count"] = row["count"]
    for aggregate in _AGGREGATES:
        flat[f"{aggregate}_wallTime"] = (row.get(aggregate) or {}).get("wallTime")
    flat.update(row.get("quantiles") or {})
    return flat


def graphql_result(body: Any, query: AnalyticsQuery) -> AnalyticsResult:
    """The rows of a GraphQL answer (HTTP 200), or the engine error it reports."""
    if not isinstance(body, dict):
        raise PyflowError("the gateway did not answer the GraphQL request with JSON")
    errors = body.get("errors") or []
    if errors:
        first = errors[0]
        code = str((first.get("extensions") or {}).get("code") or "")
        _, _, message = str(first.get("message", "")).partition(f"{code}: ")
        raise error_class_for_code(code)(message or str(first.get("message")))
    try:
        rows = body["data"]["viewer"]["accounts"][0]["rows"]
    except (KeyError, IndexError, TypeError):
        raise PyflowError("the gateway's GraphQL answer has no rows") from None
    if query.dataset == "workflowsAdaptive":
        return AnalyticsResult(rows=rows)
    return AnalyticsResult(rows=[_flatten(r) for r in rows])
