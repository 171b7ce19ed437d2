"""What the instances view lists: filters from the query string, and its cursor.

The view lists one page at a time through the transport's ``list_instances``
(never all of a workflow's instances). ``Next page`` carries a cursor holding
the page number and, newest first, the creation time of the first page's
newest instance: instances created meanwhile do not shift the pages that
follow. Filters stay in the query string, next to the cursor.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from dataclasses import dataclass, replace
from typing import Any, Literal
from urllib.parse import urlencode

from pyflow_actors.errors import ValidationError
from pyflow_actors.models import InstancePage, InstanceStatus

PER_PAGE = 25
Order = Literal["newest", "oldest"]


def _status(value: str | None) -> InstanceStatus | None:
    if not value:
        return None
    try:
        return InstanceStatus(value)
    except ValueError:
        allowed = ", ".join(s.value for s in InstanceStatus)
        raise ValidationError(f"status {value!r} is unknown: use one of {allowed}") from None


def _day(value: str | None, name: str) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ValidationError(f"{name} {value!r} is not a date: use YYYY-MM-DD") from None


def _epoch(day: dt.date, *, end: bool = False) -> float:
    moment = dt.datetime.combine(day, dt.time.max if end else dt.time.min, dt.timezone.utc)
    return moment.timestamp()


def _decode(cursor: str) -> tuple[int, float | None]:
    try:
        state = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        page, pinned = state["page"], state.get("before")
        if (
            not isinstance(page, int)
            or page < 1
            or not isinstance(pinned, (int, float, type(None)))
        ):
            raise ValueError
        return page, pinned
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeDecodeError):
        raise ValidationError(
            "the page cursor is invalid: start again from the first page"
        ) from None


def _encode(page: int, pinned: float | None) -> str:
    text = json.dumps({"page": page, "before": pinned}, separators=(",", ":"))
    return base64.urlsafe_b64encode(text.encode()).decode()


@dataclass(frozen=True)
class Listing:
    """One page request of the instances view."""

    status: InstanceStatus | None = None
    search: str = ""
    since: dt.date | None = None
    until: dt.date | None = None
    order: Order = "newest"
    page: int = 1
    pinned: float | None = None  # newest first: nothing created after this (from the cursor)

    @classmethod
    def of(
        cls,
        status: str | None,
        search: str | None,
        since: str | None,
        until: str | None,
        order: str | None,
        cursor: str | None,
    ) -> Listing:
        """The listing a query string asks for; a bad value is a ``ValidationError``."""
        if order not in (None, "", "newest", "oldest"):
            raise ValidationError(f"order {order!r} is unknown: use newest or oldest")
        page, pinned = _decode(cursor) if cursor else (1, None)
        return cls(
            status=_status(status),
            search=(search or "").strip(),
            since=_day(since, "since"),
            until=_day(until, "until"),
            order="oldest" if order == "oldest" else "newest",
            page=page,
            pinned=pinned,
        )

    def arguments(self) -> dict[str, Any]:
        """Keyword arguments of ``transport.list_instances`` for this page."""
        before = _epoch(self.until, end=True) if self.until else None
        if self.pinned is not None:
            before = self.pinned if before is None else min(before, self.pinned)
        return {
            "status": self.status.value if self.status else None,
            "page": self.page,
            "per_page": PER_PAGE,
            "reverse": self.order == "oldest",
            "created_after": _epoch(self.since) if self.since else None,
            "created_before": before,
        }

    def next_cursor(self, shown: InstancePage) -> str | None:
        """The cursor of the page after ``shown``, ``None`` on the last page."""
        if (shown.page - 1) * shown.per_page + len(shown.instances) >= shown.total:
            return None
        pinned = self.pinned
        if pinned is None and self.order == "newest" and shown.instances:
            pinned = shown.instances[0].created_at
        return _encode(shown.page + 1, pinned)

    def query(self, **changes: Any) -> str:
        """The query string of this listing's filters (no cursor), with ``changes``."""
        listing = replace(self, **changes) if changes else self
        fields = {
            "status": listing.status.value if listing.status else "",
            "since": listing.since.isoformat() if listing.since else "",
            "until": listing.until.isoformat() if listing.until else "",
            "order": listing.order if listing.order != "newest" else "",
        }
        return urlencode({k: v for k, v in fields.items() if v})
