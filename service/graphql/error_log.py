"""How GraphQL errors reach the server's log: a client's mistakes quietly, crashes loudly.

ariadne logs every error of a GraphQL answer at ERROR with its traceback. Most
are the client's own (a syntax error, a field not in the schema, a bad
variable or scalar, an account the token does not hold): those answer the
client and go to DEBUG, so that a flood of bad queries (or a fuzzer) cannot
fill the log with tracebacks. A resolver that crashed is a server error and
stays at ERROR, traceback included.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from graphql import GraphQLError

from pyflow_actors.errors import PyflowError

if TYPE_CHECKING:
    _Adapter = logging.LoggerAdapter[logging.Logger]
else:
    _Adapter = logging.LoggerAdapter


def is_client_error(error: BaseException) -> bool:
    """Whether ``error`` (what ariadne logs) is the client's doing, not the server's."""
    original = error.original_error if isinstance(error, GraphQLError) else error
    if original is None or isinstance(original, GraphQLError):
        return True  # syntax, validation against the schema, variables
    if isinstance(original, PyflowError):
        return original.http_status < 500
    return isinstance(original, ValueError)  # a scalar that did not parse


class GraphQLErrorLog(_Adapter):
    """The logger handed to ariadne: client errors at DEBUG without a traceback."""

    def __init__(self, logger: logging.Logger) -> None:
        super().__init__(logger, {})

    def error(self, msg: object, *args: object, **kwargs: Any) -> None:
        exc_info = kwargs.get("exc_info")
        if isinstance(exc_info, BaseException) and is_client_error(exc_info):
            self.logger.debug("graphql client error: %s", msg)
            return
        self.logger.error(msg, *args, **kwargs)
