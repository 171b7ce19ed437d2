"""The call shapes of Cloudflare's Python Workflow bindings, read into our models.

Cloudflare's Python pages call a binding with one options dict (what ``to_js``
turned into a JS object): ``create({"id", "params"})``,
``create_batch([{"id", "params"}, ...])``, ``send_event({"type", "payload"})``.
Our client also takes keywords (``create(id=..., params=...)``) and the
positional ``send_event(type, payload)``. Anything else raises
:class:`~pyflow_actors.errors.InvalidBindingCall`, whose message shows the
right shape; inside a step it fails the step at once (no retries).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ..errors import InvalidBindingCall, PyflowError, ValidationError
from ..models import BatchCreateError, CreateOptions, RestartFrom
from ..retention import Retention

CREATE_SHAPE = (
    'create({"id": "order-1", "params": {...}, "retention": {"successRetention": "3 days"}}) '
    'or create(id="order-1", params={...}) (every key optional)'
)
BATCH_SHAPE = 'create_batch([{"id": "a", "params": {...}}, {"id": "b", "params": {...}}])'
RESTART_SHAPE = (
    'restart(from_={"name": "charge", "count": 1, "type": "do"}), restart(from_="charge") '
    'or restart({"from": {"name": "charge"}})'
)
EVENT_SHAPE = 'send_event({"type": "approved", "payload": {...}}) or send_event("approved", {...})'
_UNSUPPORTED: dict[str, str] = {}  # option -> why it is refused (none at present)


class _Unset:
    """The default of ``send_event``'s payload: "no payload given" (None is a payload)."""

    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = _Unset()


def _unknown_keys(given: Iterable[str], allowed: set[str], shape: str) -> None:
    unknown = sorted(set(given) - allowed)
    for key in unknown:
        if key in _UNSUPPORTED:
            raise InvalidBindingCall(f"option {key!r}: {_UNSUPPORTED[key]}")
    if unknown:
        raise InvalidBindingCall(f"unknown option(s) {unknown}: use {shape}")


def create_options(options: Any, id: Any = None, params: Any = None) -> CreateOptions:  # noqa: A002
    """The one instance ``create`` asks for, from an options dict or keywords."""
    if options is None:
        return CreateOptions(id=_instance_id(id, CREATE_SHAPE), params=params)
    if not isinstance(options, Mapping):
        raise InvalidBindingCall(
            f"create takes one options dict, not {type(options).__name__} {options!r}: "
            f"use {CREATE_SHAPE}"
        )
    if id is not None or params is not None:
        raise InvalidBindingCall(
            f"create got both an options dict and keywords: use one of {CREATE_SHAPE}"
        )
    _unknown_keys(options, {"id", "params", "retention"}, CREATE_SHAPE)
    return CreateOptions(
        id=_instance_id(options.get("id"), CREATE_SHAPE),
        params=options.get("params"),
        retention=_retention(options.get("retention")),
    )


OBJECT_BATCH_SHAPE = (
    'create_batch({"instances": [{"id": "a", "params": {...}}, ...]}) or '
    'create_batch({"count": 3, "params": {...}})'
)


def batch_entries(
    batch: Mapping[str, Any],
) -> tuple[list[CreateOptions], list[int], list[BatchCreateError]]:
    """Cloudflare's createBatch object form, ``{"instances": [...]}`` or ``{"count": N,
    "params"?, "retention"?}``, entry by entry: ``(options, their indexes, errors)``,
    an entry of the wrong shape being a ``BatchCreateError`` of its own."""
    if ("instances" in batch) == ("count" in batch):
        raise InvalidBindingCall(
            "create_batch takes a list of option dicts, or an object with instances or "
            f"count (one of them): use {BATCH_SHAPE}, {OBJECT_BATCH_SHAPE}"
        )
    if "count" in batch:
        _unknown_keys(batch, {"count", "params", "retention"}, OBJECT_BATCH_SHAPE)
        count = batch["count"]
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= 100:
            raise InvalidBindingCall(f"count must be a whole number from 1 to 100, not {count!r}")
        one = {"params": batch.get("params"), "retention": batch.get("retention")}
        entries: list[Any] = [one] * count
    else:
        _unknown_keys(batch, {"instances"}, OBJECT_BATCH_SHAPE)
        entries = list(batch["instances"])
    options: list[CreateOptions] = []
    indexes: list[int] = []
    errors: list[BatchCreateError] = []
    for index, entry in enumerate(entries):
        try:
            [option] = batch_options([entry])
        except PyflowError as exc:
            given = entry.get("id") if isinstance(entry, Mapping) else None
            errors.append(
                BatchCreateError.of(index, given if isinstance(given, str) else None, exc)
            )
            continue
        options.append(option)
        indexes.append(index)
    return options, indexes, errors


def batch_options(batch: Any) -> list[CreateOptions]:
    """The instances ``create_batch`` asks for: a list of option dicts."""
    if isinstance(batch, str | bytes | Mapping) or not isinstance(batch, Iterable):
        raise InvalidBindingCall(
            f"create_batch takes a list of option dicts, not {type(batch).__name__}: "
            f"use {BATCH_SHAPE}"
        )
    out = []
    for item in batch:
        if isinstance(item, CreateOptions):
            out.append(item)
        elif isinstance(item, Mapping):
            _unknown_keys(item, {"id", "params", "retention"}, BATCH_SHAPE)
            out.append(
                CreateOptions(
                    id=_instance_id(item.get("id"), BATCH_SHAPE),
                    params=item.get("params"),
                    retention=_retention(item.get("retention")),
                )
            )
        else:
            raise InvalidBindingCall(
                f"create_batch items are option dicts, not {type(item).__name__} {item!r}: "
                f"use {BATCH_SHAPE}"
            )
    return out


def event_arguments(type_or_options: Any, payload: Any = UNSET) -> tuple[str, Any]:
    """``(type, payload)`` of a ``send_event`` call, from an options dict or positionally."""
    if isinstance(type_or_options, Mapping):
        if payload is not UNSET:
            raise InvalidBindingCall(
                f"send_event got an options dict and a payload: use one of {EVENT_SHAPE}"
            )
        _unknown_keys(type_or_options, {"type", "payload"}, EVENT_SHAPE)
        if "type" not in type_or_options:
            raise InvalidBindingCall(f"send_event options need a 'type': use {EVENT_SHAPE}")
        type_or_options, payload = type_or_options["type"], type_or_options.get("payload")
    if not isinstance(type_or_options, str):
        raise InvalidBindingCall(
            f"send_event's type must be a string, not {type(type_or_options).__name__}: "
            f"use {EVENT_SHAPE}"
        )
    return type_or_options, None if payload is UNSET else payload


def _retention(value: Any) -> Retention | None:
    try:
        return Retention.parse(value, what="retention")
    except ValidationError as exc:
        raise InvalidBindingCall(exc.message) from None


def _instance_id(value: Any, shape: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise InvalidBindingCall(f"an instance id is a string, not {type(value).__name__}: use {shape}")


def send_event_on_binding(workflow: str, binding: str | None) -> InvalidBindingCall:
    """The error for ``env.BINDING.send_event(...)``: events go to one instance."""
    return InvalidBindingCall(
        f"send_event is a method of an instance, not of the binding of workflow {workflow!r}: "
        f"instance = await env.{binding or 'BINDING'}.get(instance_id), then "
        f'await instance.send_event({{"type": "approved", "payload": {{...}}}})'
    )


def terminate_rollback(options: Any = None, rollback: bool = False) -> bool:
    """Whether a terminate asks for a rollback: ``rollback=True`` or Cloudflare's
    ``terminate({"rollback": True})``."""
    if options is None:
        return bool(rollback)
    if not isinstance(options, Mapping) or set(options) - {"rollback"}:
        raise ValidationError(
            f'terminate options {options!r} are invalid: use {{"rollback": true}} or rollback=True'
        )
    value = options.get("rollback", False)
    if not isinstance(value, bool):
        raise ValidationError(f"terminate 'rollback' must be true or false, got {value!r}")
    return value or bool(rollback)


def restart_from(options: Any = None, from_: Any = None) -> RestartFrom | None:
    """Where ``instance.restart(...)`` starts again: ``None`` (from the top), a
    step name, a ``{"name", "count", "type"}`` dict or a :class:`RestartFrom`,
    given as ``from_=`` or as Cloudflare's options dict ``{"from": {...}}``."""
    if options is not None:
        if not isinstance(options, Mapping) or set(options) - {"from"} or from_ is not None:
            raise InvalidBindingCall(f"restart takes {RESTART_SHAPE}, got {options!r}")
        from_ = options.get("from")
    if from_ is None or isinstance(from_, RestartFrom):
        return from_
    if isinstance(from_, str):
        from_ = {"name": from_}
    if not isinstance(from_, Mapping):
        raise InvalidBindingCall(f"restart takes {RESTART_SHAPE}, got from_={from_!r}")
    try:
        return RestartFrom.model_validate(dict(from_))
    except ValueError as exc:
        raise InvalidBindingCall(f"restart takes {RESTART_SHAPE}: {exc}") from None
