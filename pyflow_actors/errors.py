"""The one error hierarchy of pyflow-actors.

Every error a caller can see carries a stable ``code`` (a dotted string such as
``instance.not_found``), an HTTP status the gateway maps it to, and a message
that says what was wrong and what is allowed. Errors cross process boundaries
(Ray, HTTP) as ``{"code", "message"}`` and are rebuilt with :func:`from_wire`.
"""

from __future__ import annotations

from typing import Any, ClassVar

# Errors met inside run() have their own module; re-exported here, so that
# every error is importable from one place.
from .step_errors import NonRetryableError as NonRetryableError
from .step_errors import StepError as StepError
from .step_errors import StepTimeout as StepTimeout
from .step_errors import WaitForEventTimeout as WaitForEventTimeout
from .step_errors import describe_exception as describe_exception
from .step_errors import rebuild_error as rebuild_error


class PyflowError(Exception):
    """Base of every error pyflow-actors raises on purpose."""

    code: ClassVar[str] = "internal"
    http_status: ClassVar[int] = 500
    # Cloudflare's v4 envelope carries an integer code; ours are stable too.
    numeric_code: ClassVar[int] = 10000

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def to_wire(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message}

    # Keep the class across pickling (Ray).
    def __reduce__(self) -> tuple[type[PyflowError], tuple[str]]:
        return (self.__class__, (self.message,))


class ValidationError(PyflowError):
    """Input that breaks a documented limit or format."""

    code = "validation.invalid"
    http_status = 400
    numeric_code = 10001


class InvalidInstanceId(ValidationError):
    code = "instance.invalid_id"
    numeric_code = 10002


class InvalidEventType(ValidationError):
    code = "workflow.invalid_event_type"
    numeric_code = 10003


class InvalidDuration(ValidationError):
    code = "validation.invalid_duration"
    numeric_code = 10004


class PayloadTooLarge(ValidationError):
    code = "validation.payload_too_large"
    http_status = 413
    numeric_code = 10005


class InvalidStepConfig(ValidationError):
    code = "step.invalid_config"
    numeric_code = 10006


class InvalidRollback(ValidationError):
    """A step's rollback handler or ``rollback_config`` has the wrong shape."""

    code = "step.invalid_rollback"
    numeric_code = 10840


class InvalidWorkflowName(ValidationError):
    code = "workflow.invalid_name"
    numeric_code = 10007


class NotSerializable(ValidationError):
    """A value that JSON cannot carry (step output, params, event payload): see serialization."""

    code = "validation.not_serializable"
    numeric_code = 10009


class StorageInUse(PyflowError):
    """Another ``pyflow dev`` runs on this storage (see ``dev_session``)."""

    code = "storage.in_use"
    http_status = 409
    numeric_code = 10661


class NotFound(PyflowError):
    code = "not_found"
    http_status = 404
    numeric_code = 10404


class WorkflowNotFound(NotFound):
    code = "workflow.not_found"
    numeric_code = 10405


class InstanceNotFound(NotFound):
    code = "instance.not_found"
    numeric_code = 10406


class Conflict(PyflowError):
    code = "conflict"
    http_status = 409
    numeric_code = 10409


class InstanceAlreadyExists(Conflict):
    code = "instance.already_exists"
    numeric_code = 10410


class InstanceIdRepeated(Conflict):
    """A batch create names the same id twice: only its first entry is created."""

    code = "instance.id_repeated"
    numeric_code = 10841


class InvalidTransition(Conflict):
    """A control command that the instance's current status does not allow."""

    code = "instance.invalid_transition"
    numeric_code = 10411


class InstanceNotAcceptingEvents(Conflict):
    code = "instance.not_accepting_events"
    numeric_code = 10412


class RateLimited(PyflowError):
    code = "rate_limited"
    http_status = 429
    numeric_code = 10429


class CreationRateLimited(RateLimited):
    code = "instance.creation_rate_limited"
    numeric_code = 10430


class QueueFull(RateLimited):
    code = "instance.queue_full"
    numeric_code = 10431


class Unauthorized(PyflowError):
    code = "auth.unauthorized"
    http_status = 401
    numeric_code = 10401


class AuthRateLimited(RateLimited):
    """Too many failed authentications from one client address."""

    code = "auth.rate_limited"
    numeric_code = 10800


class HeadersTooLarge(PyflowError):
    """A request whose line and headers are over the gateway's limit."""

    code = "request.headers_too_large"
    http_status = 431
    numeric_code = 10801


class Forbidden(PyflowError):
    code = "auth.forbidden"
    http_status = 403
    numeric_code = 10403


class CsrfRejected(Forbidden):
    """A dashboard form sent without its session's CSRF token (or from another origin)."""

    code = "dash.csrf_rejected"
    numeric_code = 10820


class EngineUnavailable(PyflowError):
    """The engine (supervisor) cannot be reached."""

    code = "engine.unavailable"
    http_status = 503
    numeric_code = 10503


class EngineOutcomeUnknown(EngineUnavailable):
    """The supervisor died while it handled a call and did not come back in time:
    the call may have taken effect before it died. Retry it: a create retried
    with the same instance id answers 409 ``instance.already_exists`` if it did."""

    code = "engine.outcome_unknown"
    numeric_code = 11001


class StorageUnavailable(PyflowError):
    """The storage folder cannot be written (full, read-only, gone): retry later.

    Nothing of the refused call was recorded; what was accepted before is kept.
    """

    code = "storage.unavailable"
    http_status = 503
    numeric_code = 10504


class ConfigError(PyflowError):
    code = "config.invalid"
    http_status = 500
    numeric_code = 10500


class JournalCorrupt(PyflowError):
    """An instance's journal file cannot be opened or read (truncated or corrupt).

    The instance cannot go on from it: it is reported errored with this name.
    """

    code = "journal.corrupt"
    http_status = 500
    numeric_code = 10505


class JournalLocked(PyflowError):
    """The journal file is held by another process (an actor of the instance on
    its way out, or alive): wait and retry, or adopt that actor."""

    code = "journal.locked"
    http_status = 503
    numeric_code = 10506


class InstanceActorGone(PyflowError):
    """An instance's actor process died or stopped answering (the supervisor
    rehydrates the instance; callers never see this)."""

    code = "instance.actor_gone"
    http_status = 503
    numeric_code = 10507


class StepOutputError(PyflowError):
    """A step returned something that cannot be journaled: the step fails, no retry."""

    code = "step.invalid_output"
    http_status = 400
    numeric_code = 10008


class StepNotFound(NotFound):
    """A step the instance does not have (``GET .../instances/{id}/step``)."""

    code = "step.not_found"
    numeric_code = 10407


class MethodNotAllowed(PyflowError):
    """An HTTP method the route does not take."""

    code = "request.method_not_allowed"
    http_status = 405
    numeric_code = 10420


class RetryDelayFailed(PyflowError):
    """A step's ``retries.delay`` function raised, timed out or returned no valid
    duration: the step fails with this error, without further retries."""

    code = "step.retry_delay_failed"
    http_status = 400
    numeric_code = 10620


class VersionNotFound(NotFound):
    """No version with this id in the workflow's version history."""

    code = "version.not_found"
    numeric_code = 10621


class WorkflowSourceUnavailable(ValidationError):
    """The workflow's Python source cannot be read or parsed, so it has no graph."""

    code = "workflow.source_unavailable"
    http_status = 422
    numeric_code = 10622


class ReplayDiverged(PyflowError):
    """The workflow's code no longer matches an instance's journal: replayed on
    the code as it is now, it asks for a step the journal does not hold where
    the journal holds another (see ``pyflow check`` and ``on_divergence``)."""

    code = "replay.diverged"
    http_status = 409
    numeric_code = 10780


class StorageFormatTooNew(PyflowError):
    """A journal or registry file written by a newer release of pyflow-actors:
    refused rather than misread. Upgrade pyflow-actors to open it."""

    code = "storage.format_too_new"
    http_status = 500
    numeric_code = 10600


class HarnessWaitTimeout(PyflowError):
    """A test harness wait (``wait_for_status``, ``wait_for_step``) did not see
    its condition within its real-time deadline."""

    code = "testing.wait_timeout"
    http_status = 504
    numeric_code = 10601


class StatusUnreachable(Conflict):
    """A test harness waits for a status the instance can no longer reach (it
    ended in another final status, or the step it waits for never ran)."""

    code = "testing.status_unreachable"
    numeric_code = 10602


class HarnessUnsupported(ValidationError):
    """A test harness feature the chosen engine cannot offer (mocks and the
    virtual clock need the in-process engine)."""

    code = "testing.unsupported"
    numeric_code = 10603


class WorkerNotFound(NotFound):
    """No Worker of that name is declared (``name``/``main`` in ``pyflow.toml``)."""

    code = "worker.not_found"
    numeric_code = 10681


class WorkerFailed(PyflowError):
    """A Worker's ``fetch`` raised or returned something other than a ``Response``."""

    code = "worker.exception"
    http_status = 500
    numeric_code = 10682


class InvalidCron(ValidationError):
    """A ``[triggers] crons`` expression that is not a 5-field cron expression."""

    code = "worker.invalid_cron"
    numeric_code = 10683


class InvalidAnalyticsQuery(ValidationError):
    """An analytics query naming an unknown dataset, field or operator, or a bad value."""

    code = "analytics.invalid_query"
    numeric_code = 10700


class AnalyticsUnavailable(PyflowError):
    """The engine behind this gateway cannot answer analytics queries (yet)."""

    code = "analytics.unavailable"
    http_status = 503
    numeric_code = 10701


class QueueNotFound(NotFound):
    """A pull queue no ``[[subscriptions]]`` block names."""

    code = "queue.not_found"
    numeric_code = 10704


class InvalidSubscription(ConfigError):
    """A ``[[subscriptions]]`` block that cannot be used as written."""

    code = "subscription.invalid"
    numeric_code = 10702


class InvalidIdempotencyKey(ValidationError):
    """An ``Idempotency-Key`` that is empty, longer than 255 characters, or not
    printable ASCII."""

    code = "control.invalid_idempotency_key"
    numeric_code = 11880


class IdempotencyKeyReused(Conflict):
    """An ``Idempotency-Key`` sent again with another control (another action, or
    another ``from`` or ``rollback``) on the instance it was last used on (a 409, as
    the gateway answers no 422; the IETF draft's 422 for this case)."""

    code = "control.idempotency_key_reused"
    numeric_code = 11881


_by_code: dict[str, type[PyflowError]] = {}


def _index(cls: type[PyflowError]) -> None:
    _by_code[cls.code] = cls
    for sub in cls.__subclasses__():
        _index(sub)


_index(PyflowError)


def from_wire(data: dict[str, Any]) -> PyflowError:
    """Rebuild a :class:`PyflowError` from its ``{"code", "message"}`` form."""
    cls = error_class_for_code(str(data.get("code")))
    return cls(str(data.get("message", "")))


def error_class_for_code(code: str) -> type[PyflowError]:
    if code not in _by_code:
        _index(PyflowError)  # classes defined in modules imported after this one
    return _by_code.get(code, PyflowError)


class InvalidBindingCall(ValidationError, NonRetryableError):
    """A binding or instance method called in a shape Cloudflare's Python API does not have.

    The message shows the right shape. It is a :class:`NonRetryableError` too,
    so inside a step it fails the step at once instead of being retried by the
    default policy for minutes.
    """

    code = "binding.invalid_call"
    numeric_code = 10680

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.name = "InvalidBindingCall"

    def __reduce__(self) -> tuple[type[InvalidBindingCall], tuple[str]]:  # type: ignore[override]
        # Both bases define one (PyflowError's takes the message, NonRetryableError's
        # a name too): this class is rebuilt from its message alone.
        return (self.__class__, (self.message,))


def register_error(cls: type[PyflowError]) -> None:
    """Index an error class defined after the index was built, so ``from_wire`` rebuilds it."""
    _index(cls)


register_error(InvalidBindingCall)
