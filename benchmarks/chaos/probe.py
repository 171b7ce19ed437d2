"""The soak's eyes inside Ray: a small process connected to the cluster that names the
processes to kill (``python -m benchmarks.chaos.probe <address> <namespace>``).

The soak itself never connects to Ray: a driver dies with the cluster it is
connected to, and the soak kills the whole runtime. It asks this process
instead, one JSON line per question on stdin, one ``PROBE <json>`` line per
answer on stdout; when the runtime dies, the soak kills it and starts another.

Questions: ``{"op": "live"}`` (live instances ``[[workflow, id], ...]``),
``{"op": "pid", "workflow": w, "id": i}`` (the process running an instance:
its actor or its shared host), ``{"op": "pids", "workflow": w}`` (``{id: pid}``
of its live instances, at most 64), ``{"op": "supervisor"}`` (the supervisor's pid).
"""

from __future__ import annotations

import json
import sys
from typing import Any

PREFIX = "PROBE "


def answer(supervisor: Any, question: dict[str, Any]) -> Any:
    import ray

    op = question["op"]
    if op == "live":
        return [list(key) for key in ray.get(supervisor.live_instances.remote(), timeout=30)]
    if op == "pids":  # every live instance of a workflow and its process, in one answer
        keys = [k for k in ray.get(supervisor.live_instances.remote(), timeout=30)]
        keys = [k for k in keys if k[0] == question["workflow"]][: question.get("limit", 64)]
        calls = [supervisor.actor_pid.remote(*key) for key in keys]
        ready, _ = ray.wait(calls, num_returns=len(calls), timeout=15)
        done = set(ready)
        pids: dict[str, int] = {}
        for key, call in zip(keys, calls, strict=True):
            # One actor just killed (or slow) must not cost the whole answer: at a
            # high kill rate one always is, and no process was ever named again.
            try:
                pid = ray.get(call, timeout=0) if call in done else None
            except Exception:  # noqa: BLE001 - that instance is skipped this time
                pid = None
            if pid is not None:
                pids[key[1]] = pid
        return pids
    if op == "pid":
        call = supervisor.actor_pid.remote(question["workflow"], question["id"])
        return ray.get(call, timeout=10)
    if op == "supervisor":
        return ray.get(supervisor.pid.remote(), timeout=60)
    raise ValueError(f"unknown question {op!r}")


def main(argv: list[str]) -> int:
    import ray

    from pyflow_actors.runtime.supervisor import SUPERVISOR_NAME

    address, namespace = argv
    ray.init(address=address, namespace=namespace, log_to_driver=False, configure_logging=False)
    supervisor = ray.get_actor(SUPERVISOR_NAME, namespace=namespace)
    print(PREFIX + json.dumps({"ok": True, "result": "ready"}), flush=True)
    for line in sys.stdin:
        try:
            reply = {"ok": True, "result": answer(supervisor, json.loads(line))}
        except Exception as exc:  # noqa: BLE001 - reported to the soak, which tries later
            reply = {"ok": False, "error": repr(exc)[:300]}
        print(PREFIX + json.dumps(reply), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
