"""The supervisor package: one module per piece of control state (see ``actor``)."""

from ...constants import SUPERVISOR_NAME, actor_name
from .actor import Supervisor

__all__ = ["SUPERVISOR_NAME", "Supervisor", "actor_name"]
