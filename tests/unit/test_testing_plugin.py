"""The pytest plugin is registered by the package: a user's suite gets ``workflow_harness``."""

from __future__ import annotations

import subprocess
import sys
import textwrap

USER_SUITE = """
import pytest
from pyflow_actors import WorkflowEntrypoint

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend():
    return "asyncio"


class Nap(WorkflowEntrypoint):
    async def run(self, event, step):
        await step.sleep("nap", "30 days")
        return "rested"


async def test_a_long_nap(workflow_harness):
    run = await workflow_harness.start(Nap)
    assert (await run.wait()).output == "rested"


@pytest.mark.pyflow_engine("mainframe")
async def test_an_unknown_engine(workflow_harness):
    pass
"""


def test_a_user_suite_without_conftest_gets_the_harness_fixture(tmp_path):
    (tmp_path / "test_user.py").write_text(textwrap.dedent(USER_SUITE))
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_user.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "1 passed, 1 error" in done.stdout, done.stdout + done.stderr
    assert "pyflow_engine 'mainframe' is unknown" in done.stdout
