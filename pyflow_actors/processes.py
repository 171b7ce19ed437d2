"""What the engine asks the operating system about a process: is it still there.

Used where a file names its owner by pid (a shared host's journal stock, the
``pyflow dev`` session file), to tell a live owner from one a kill -9 left behind.
"""

from __future__ import annotations

import os


def pid_alive(pid: int) -> bool:
    """True if a process with this pid exists (one of another user's counts too)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
