"""What users subclass and receive: ``WorkflowEntrypoint``, ``WorkflowEvent``, ``Env``.

The ``step`` that ``run()`` receives is typed in :mod:`pyflow_actors.step`.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterator, Mapping
from typing import Any

from .step import WorkflowStep


class Env:
    """``self.env``: workflow bindings (by binding name) and plain values from ``[vars]``.

    >>> child = await self.env.CHILD.create(params={"n": 1})
    """

    _values: dict[str, Any]

    def __init__(self, values: Mapping[str, Any] | None = None) -> None:
        object.__setattr__(self, "_values", dict(values or {}))

    def __getattr__(self, name: str) -> Any:
        try:
            return self._values[name]
        except KeyError:
            known = ", ".join(sorted(self._values)) or "none"
            raise AttributeError(f"env has no binding or var {name!r} (known: {known})") from None

    def __getitem__(self, name: str) -> Any:
        return self._values[name]

    def __contains__(self, name: object) -> bool:
        return name in self._values

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("env is read-only")

    def __repr__(self) -> str:
        return f"Env({sorted(self._values)})"


class WorkflowEvent(Mapping[str, Any]):
    """The event ``run()`` receives: ``payload``, ``timestamp``, ``instanceId``, ``workflowName``.

    Both ``event["payload"]`` and ``event.payload`` work. The event is
    read-only; changes to the payload object are not persisted (store state by
    returning it from steps).
    """

    __slots__ = ("_data",)
    _data: dict[str, Any]

    def __init__(
        self,
        payload: Any,
        timestamp: _dt.datetime,
        instance_id: str,
        workflow_name: str,
        *,
        schedule: dict[str, Any] | None = None,
    ) -> None:
        data = {
            "payload": payload,
            "timestamp": timestamp,
            "instanceId": instance_id,
            "workflowName": workflow_name,
        }
        if schedule is not None:  # Cloudflare sets it on cron-created instances only
            data["schedule"] = schedule
        object.__setattr__(self, "_data", data)

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    @property
    def payload(self) -> Any:
        """The params the instance was created with (decoded JSON)."""
        return self._data["payload"]

    @property
    def timestamp(self) -> _dt.datetime:
        """When the instance was created (UTC)."""
        timestamp: _dt.datetime = self._data["timestamp"]
        return timestamp

    @property
    def instance_id(self) -> str:
        """The instance's id (also ``instanceId``, Cloudflare's spelling)."""
        return str(self._data["instanceId"])

    @property
    def workflow_name(self) -> str:
        """The workflow's name (also ``workflowName``, Cloudflare's spelling)."""
        return str(self._data["workflowName"])

    @property
    def schedule(self) -> dict[str, Any] | None:
        """A cron fire's ``{"cron", "scheduledTime"}`` (ms since the epoch), else ``None``."""
        schedule: dict[str, Any] | None = self._data.get("schedule")
        return schedule

    instanceId = instance_id  # noqa: N815 - Cloudflare's spelling
    workflowName = workflow_name  # noqa: N815 - Cloudflare's spelling

    def __setattr__(self, key: str, value: Any) -> None:
        raise AttributeError("WorkflowEvent is immutable")

    def __repr__(self) -> str:
        return f"WorkflowEvent({self._data!r})"


class WorkflowEntrypoint:
    """Subclass this and implement ``async def run(self, event, step)``.

    ``event`` is a :class:`WorkflowEvent`, ``step`` a
    :class:`~pyflow_actors.step.WorkflowStep` (``step.do``, ``step.sleep``,
    ``step.sleep_until``, ``step.wait_for_event``); annotate them, or let your
    editor take the types from this base class.

    .. code-block:: python

        class Greet(WorkflowEntrypoint):
            async def run(self, event: WorkflowEvent, step: WorkflowStep) -> str:
                @step.do("build greeting")
                async def greeting():
                    return f"hello {event['payload']['name']}"

                return await greeting()
    """

    def __init__(self, env: Env | None = None) -> None:
        self.env = env if env is not None else Env()

    async def run(self, event: WorkflowEvent, step: WorkflowStep) -> Any:  # pragma: no cover
        raise NotImplementedError("a workflow must implement `async def run(self, event, step)`")
