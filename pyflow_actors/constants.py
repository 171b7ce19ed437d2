"""Names and defaults shared across processes: one home for each.

The supervisor's actor name, how an instance actor is named, and the Ray
namespace are read by the runtime (which creates the actors) and by clients
(which find them); defining them here keeps both sides in step.
"""

from __future__ import annotations

SUPERVISOR_NAME = "pyflow-supervisor"
DEFAULT_NAMESPACE = "pyflow"


def actor_name(workflow: str, instance_id: str) -> str:
    """The Ray actor name of an instance: ``wf/<workflow>/<instance id>``."""
    return f"wf/{workflow}/{instance_id}"
