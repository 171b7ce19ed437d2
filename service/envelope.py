"""Cloudflare's v4 response envelope as pydantic models, and the OpenAPI
``responses`` of the errors a route may answer with.

Every answer of the gateway is an envelope:

.. code-block:: json

    {"success": true, "errors": [], "messages": [], "result": {...}}

lists add ``result_info`` (:class:`Page`, :class:`CursorPage`); errors are an
:class:`ErrorEnvelope` (``success: false``, ``result: null``). A route returns
``Envelope[InstanceSummary](result=...)`` and declares
``responses=error_responses(InstanceNotFound, ...)``, so the OpenAPI document
the gateway serves describes every body it can send.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, Field
from typing_extensions import Self

from pyflow_actors.errors import (
    EngineUnavailable,
    Forbidden,
    PyflowError,
    Unauthorized,
    ValidationError,
)

ResultT = TypeVar("ResultT")


class ErrorDetail(BaseModel):
    """One entry of ``errors``: the error's stable number and ``"<dotted code>: <message>"``."""

    code: int = Field(description="the error's stable number (see the README's error codes)")
    message: str = Field(description="'<dotted code>: <message>', e.g. 'instance.not_found: ...'")


class Envelope(BaseModel, Generic[ResultT]):
    """A successful answer: ``result`` is the route's result."""

    success: Literal[True] = True
    errors: list[ErrorDetail] = Field(default_factory=list)
    messages: list[ErrorDetail] = Field(default_factory=list)
    result: ResultT


class ResultInfo(BaseModel):
    """Where a page of a list is (Cloudflare's ``result_info``)."""

    page: int
    per_page: int
    count: int = Field(description="items on this page")
    total_count: int
    total_pages: int

    @classmethod
    def of(cls, page: int, per_page: int, count: int, total: int) -> Self:
        return cls(
            page=page,
            per_page=per_page,
            count=count,
            total_count=total,
            total_pages=max(1, math.ceil(total / per_page)),
        )


class CursorResultInfo(ResultInfo):
    """``result_info`` of a list that can also be paged by cursor."""

    cursor: str | None = Field(
        default=None, description="pass as 'cursor' to read the next page; null on the last"
    )


class Page(Envelope[list[ResultT]], Generic[ResultT]):
    """One page of a list."""

    result_info: ResultInfo


class CursorPage(Envelope[list[ResultT]], Generic[ResultT]):
    """One page of a list that can be paged by cursor."""

    result_info: CursorResultInfo


class ErrorEnvelope(BaseModel):
    """A refused or failed request: one entry in ``errors``, no result."""

    success: Literal[False] = False
    errors: list[ErrorDetail]
    messages: list[ErrorDetail] = Field(default_factory=list)
    result: None = None

    @classmethod
    def of(cls, error: PyflowError) -> ErrorEnvelope:
        message = f"{error.code}: {error.message}"
        return cls(errors=[ErrorDetail(code=error.numeric_code, message=message)])


# What any route may answer: a bad parameter, no or a wrong token, an engine
# that does not answer, an unexpected failure.
COMMON_ERRORS: tuple[type[PyflowError], ...] = (
    ValidationError,
    Unauthorized,
    Forbidden,
    EngineUnavailable,
    PyflowError,
)


def error_responses(*errors: type[PyflowError]) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI ``responses`` of a route that may raise ``errors`` (and the
    :data:`COMMON_ERRORS`).

    One entry per HTTP status, with the error envelope and the dotted codes it
    carries; ``4XX`` covers the client errors any route can get (an unknown
    method, a body over the limit) and replaces FastAPI's ``422``, which the
    gateway never sends (invalid input is a ``400``).
    """
    codes: dict[int, list[str]] = {}
    for error in (*COMMON_ERRORS, *errors):
        listed = codes.setdefault(error.http_status, [])
        if error.code not in listed:
            listed.append(error.code)
    responses: dict[int | str, dict[str, Any]] = {
        status: {"model": ErrorEnvelope, "description": _describe(codes[status])}
        for status in sorted(codes)
    }
    responses["4XX"] = {"model": ErrorEnvelope, "description": "another client error"}
    return responses


def _describe(codes: Iterable[str]) -> str:
    return "error envelope: " + ", ".join(f"`{code}`" for code in codes)
