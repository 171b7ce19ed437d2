"""How the dashboard shows an instance's status, whatever it is.

The templates ask here rather than reading the enum: a status this dashboard
does not style (say ``rollingBack`` from a newer engine, or a plain string
from a transport that passed it through) still renders as a neutral badge with
its name, and counts as final only if it is one of ``FINAL_STATUSES``.
"""

from __future__ import annotations

import re

from pyflow_actors.models import FINAL_STATUSES, InstanceStatus

_NOT_IN_A_CLASS = re.compile(r"[^A-Za-z0-9_-]")


def status_name(status: InstanceStatus | str | None) -> str:
    """The status as Cloudflare spells it (``waitingForPause``), ``unknown`` when absent."""
    if status is None:
        return InstanceStatus.UNKNOWN.value
    return status.value if isinstance(status, InstanceStatus) else str(status)


def status_class(status: InstanceStatus | str | None) -> str:
    """The badge's CSS class: ``status-<name>``, styled or not."""
    return "status-" + _NOT_IN_A_CLASS.sub("_", status_name(status))


def status_is_final(status: InstanceStatus | str | None) -> bool:
    """True for a final status; a status the dashboard does not know is not final
    (the page keeps refreshing until it turns into one it does)."""
    return status_name(status) in {s.value for s in FINAL_STATUSES}
