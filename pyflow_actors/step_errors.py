"""Errors that workflow code meets inside ``run()``: failing a step at once, and
a failed step as ``run()`` sees it, rebuilt with its type name and message on
the first run and after replay. (Re-exported by :mod:`pyflow_actors.errors`.)
"""

from __future__ import annotations

import builtins


class NonRetryableError(Exception):
    """Raise inside a step to fail it at once, without further retries.

    >>> raise NonRetryableError("card declined", name="PaymentError")
    """

    def __init__(self, message: str = "", name: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.name = name or "NonRetryableError"

    def __reduce__(self) -> tuple[type[NonRetryableError], tuple[str, str]]:
        return (self.__class__, (self.message, self.name))


class StepError(Exception):
    """A failed step, as ``run()`` sees it after the step's attempts ran out.

    ``type(err).__name__`` is the name of the error the step raised (for
    builtin errors such as ``ValueError`` the error is of that very type), and
    ``str(err)`` its message, both on the first run and after replay.
    """

    error_name: str = "Error"

    def __init__(self, message: str = "") -> None:
        super().__init__(message)
        self.message = message


class WaitForEventTimeout(StepError):
    """``step.wait_for_event`` reached its timeout without a matching event."""

    error_name = "WaitForEventTimeout"


class StepTimeout(StepError):
    """One attempt of a step ran longer than its ``timeout``."""

    error_name = "StepTimeout"


_step_error_classes: dict[str, type[StepError]] = {
    "WaitForEventTimeout": WaitForEventTimeout,
    "StepTimeout": StepTimeout,
}

# Builtin exceptions that are rebuilt as themselves (ValueError stays ValueError).
_REBUILDABLE_BUILTINS = {
    name
    for name, obj in vars(builtins).items()
    if isinstance(obj, type)
    and issubclass(obj, Exception)
    and obj.__init__ is not OSError.__init__
    and name not in {"UnicodeDecodeError", "UnicodeEncodeError", "UnicodeTranslateError"}
}


def rebuild_error(name: str, message: str) -> Exception:
    """An exception of the given type name and message.

    Builtin exception names give that builtin type, ``NonRetryableError`` gives
    a :class:`NonRetryableError`; any other name gives a :class:`StepError`
    subclass whose ``__name__`` is ``name``, so ``except Exception`` always
    catches it and ``type(e).__name__`` always matches.
    """
    if name in _REBUILDABLE_BUILTINS:
        builtin: type[Exception] = getattr(builtins, name)
        try:
            return builtin(message)
        except Exception:  # noqa: BLE001 - odd constructor: fall back below
            pass
    if name == "NonRetryableError":
        return NonRetryableError(message)
    cls = _step_error_classes.get(name)
    if cls is None:
        safe = name if name.isidentifier() else "StepError"
        cls = type(safe, (StepError,), {"error_name": name, "__module__": "pyflow_actors.errors"})
        _step_error_classes[name] = cls
    err = cls(message)
    return err


def describe_exception(exc: BaseException) -> tuple[str, str]:
    """``(name, message)`` of an exception, as journaled and shown in status."""
    if isinstance(exc, NonRetryableError):
        return exc.name, exc.message
    if isinstance(exc, StepError):
        return exc.error_name if exc.error_name != "Error" else type(exc).__name__, str(exc)
    return type(exc).__name__, str(exc)
