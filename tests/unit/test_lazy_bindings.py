"""An instance's workflow bindings are built on first use: an activation that never
calls one does not import the client (README: Performance, lean activation)."""

from __future__ import annotations

import subprocess
import sys

from pyflow_actors.client.api import AsyncWorkflow
from pyflow_actors.runtime.bindings import lazy_bindings


def test_bindings_import_no_client_until_a_workflow_uses_one():
    code = (
        "import sys\n"
        "from pyflow_actors.runtime.runner import InstanceRunner\n"
        "from pyflow_actors.runtime.bindings import lazy_bindings\n"
        "env = lazy_bindings({'CHILD': 'child'}, 'sup', 'ns')\n"
        "print('pyflow_actors.client' in sys.modules, env['CHILD'].name)\n"
        "env['CHILD'].create\n"
        "print('pyflow_actors.client' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.split() == ["False", "child", "True"]


def test_a_binding_is_the_clients_workflow_once_used_and_all_share_one_transport():
    env = lazy_bindings({"CHILD": "child", "OTHER": "other"}, "sup", "ns")
    create = env["CHILD"].create
    assert isinstance(create.__self__, AsyncWorkflow)
    assert (create.__self__.name, create.__self__.binding) == ("child", "CHILD")
    assert env["OTHER"].get.__self__._t is create.__self__._t
    assert env["CHILD"].create.__self__ is create.__self__  # built once
    assert repr(env["OTHER"]) == "<binding OTHER to workflow 'other'>"
