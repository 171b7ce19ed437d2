"""What ``pyflow dev`` keeps with its storage: the token, the lock, the session
the CLI discovers; and the start-time configuration checks."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from pyflow_actors import config_check, dev_session
from pyflow_actors.cli import Gateway
from pyflow_actors.config import load_config
from pyflow_actors.errors import StorageInUse


def test_the_generated_token_is_kept_private_reused_and_rotated_on_request(tmp_path):
    first = dev_session.dev_token(tmp_path, "local")
    kept = tmp_path / dev_session.TOKEN_FILE
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    assert dev_session.dev_token(tmp_path, "local").token == first.token
    rotated = dev_session.dev_token(tmp_path, "local", new=True)
    assert rotated.token != first.token
    assert dev_session.dev_token(tmp_path, "acme").token == rotated.token
    assert dev_session.dev_token(tmp_path, "acme").accounts == ("acme",)


def test_a_second_engine_on_the_same_storage_is_refused_naming_the_first(tmp_path):
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path\n"
            "from pyflow_actors.dev_session import StorageLock\n"
            "lock = StorageLock(Path(sys.argv[1])); lock.acquire(); print('locked', flush=True); "
            "time.sleep(60)",
            str(tmp_path),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(StorageInUse, match=rf"in use by pyflow dev \(pid {holder.pid}\)"):
            dev_session.StorageLock(tmp_path).acquire()
    finally:
        holder.kill()
        holder.wait()
    lock = dev_session.StorageLock(tmp_path)
    lock.acquire()  # the holder is gone: the system released its lock
    lock.release()


def project(tmp_path: Path, storage: str = ".state") -> Path:
    (tmp_path / "pyflow.toml").write_text(f'[engine]\nstorage = "{storage}"\n')
    return tmp_path / storage


def test_the_cli_in_the_project_folder_finds_the_running_engine(tmp_path, monkeypatch):
    storage = project(tmp_path)
    token = dev_session.dev_token(storage, "local").token
    dev_session.publish(storage, "http://127.0.0.1:9999", "local")
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path / "sub")  # a parent folder's pyflow.toml counts

    found = dev_session.discover()
    assert found == dev_session.DevSession("http://127.0.0.1:9999", "local", token, os.getpid())
    gateway = Gateway(url=None, token=None, account=None)
    gateway.resolve()
    assert (gateway.url, gateway.token, gateway.account) == (
        "http://127.0.0.1:9999",
        token,
        "local",
    )

    elsewhere = Gateway(url="http://10.0.0.1:8787", token=None, account=None)
    elsewhere.resolve()
    assert elsewhere.token is None  # a kept token never goes to another server

    dev_session.withdraw(storage)
    assert dev_session.discover() is None


def test_a_session_whose_process_is_gone_is_ignored(tmp_path, monkeypatch):
    storage = project(tmp_path)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    dev_session._write_private(
        storage / dev_session.SESSION_FILE,
        {"url": "http://127.0.0.1:9999", "account": "local", "pid": dead.pid},
    )
    monkeypatch.chdir(tmp_path)
    assert dev_session.discover() is None


# ---------------------------------------------------------------------------
# start-time configuration checks


def write(folder: Path, name: str, text: str) -> None:
    (folder / name).write_text(textwrap.dedent(text))


GOOD = """
from pyflow_actors import WorkflowEntrypoint

class Good(WorkflowEntrypoint):
    async def run(self, event, step):
        return 1

class NotAWorkflow:
    pass
"""


@pytest.fixture
def folder(tmp_path, monkeypatch):
    write(tmp_path, "fh_good.py", GOOD)
    write(tmp_path, "fh_broken.py", "def oops(:\n    pass\n")
    write(tmp_path, "fh_needs.py", "import fh_not_installed_anywhere\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for name in ("fh_good", "fh_broken", "fh_needs"):
        sys.modules.pop(name, None)


def config_with(folder: Path, *blocks: tuple[str, str], extra: str = "") -> Path:
    text = extra + "".join(
        f'[[workflows]]\nname = "{name}"\nclass_name = "{path}"\n' for name, path in blocks
    )
    (folder / "pyflow.toml").write_text(text)
    return folder / "pyflow.toml"


def test_every_bad_workflow_class_is_one_clear_line(folder):
    path = config_with(
        folder,
        ("good", "fh_good:Good"),
        ("missing-module", "fh_nope:Good"),
        ("missing-class", "fh_good:Nope"),
        ("syntax", "fh_broken:X"),
        ("not-a-workflow", "fh_good:NotAWorkflow"),
        ("dependency", "fh_needs:X"),
    )
    warnings, problems = config_check.check(path, load_config(path))
    assert warnings == []
    assert len(problems) == 5
    text = "\n".join(problems)
    assert "workflow 'missing-module': module 'fh_nope' not found" in text
    assert "workflow 'missing-class': module 'fh_good' has no class 'Nope'" in text
    assert f"workflow 'syntax': syntax error in {folder / 'fh_broken.py'} line 1" in text
    assert "workflow 'not-a-workflow': 'fh_good:NotAWorkflow' is not a WorkflowEntrypoint" in text
    assert "imports 'fh_not_installed_anywhere', which is not installed" in text
    assert "'good'" not in text


def test_wrangler_keys_pyflow_does_not_use_are_warnings_not_errors(folder):
    path = config_with(
        folder,
        ("good", "fh_good:Good"),
        extra='name = "worker"\nmain = "src/index.py"\ncompatibility_date = "2024-09-23"\n'
        'compatibility_flags = ["python_workers"]\n',
    )
    warnings, problems = config_check.check(path, load_config(path))
    assert problems == []
    assert warnings == [
        "'compatibility_date' is not used by pyflow (ignored)",
        "'compatibility_flags' is not used by pyflow (ignored)",
    ]


def test_a_bare_class_name_is_resolved_when_one_module_defines_it(folder):
    path = config_with(folder, ("good", "Good"))
    config = load_config(path)
    assert config.workflows[0].class_name == "fh_good:Good"
    assert config_check.check(path, config) == ([], [])


def test_an_ambiguous_or_unknown_bare_class_name_shows_the_module_form(folder):
    write(folder, "fh_other.py", GOOD)
    path = config_with(folder, ("twice", "Good"), ("nowhere", "Missing"))
    _, problems = config_check.check(path, load_config(path))
    assert problems == [
        "workflow 'twice': class_name 'Good' is ambiguous: write 'fh_good:Good' or 'fh_other:Good'",
        f"workflow 'nowhere': class_name 'Missing' needs its module: write 'module:Missing' "
        f"(no file under {str(folder)!r} defines class Missing)",
    ]


def test_every_key_the_config_reader_uses_is_known_to_the_warning_check():
    # A key read by config.py but missing here printed "'placement' is not used by
    # pyflow (ignored)" for a placement that was in fact used.
    source = Path(config_check.__file__).with_name("config.py").read_text()
    read_in_blocks = set(re.findall(r'block(?:\.get\(|\[)"(\w+)"', source))
    read_at_top = set(re.findall(r'data(?:\.get\(|\[)"(\w+)"', source))
    assert {"placement", "schedules", "default_retention"} <= read_in_blocks
    assert read_in_blocks <= config_check.KNOWN_WORKFLOW_KEYS
    assert read_at_top <= config_check.KNOWN_TOP_LEVEL


def test_a_config_using_every_workflow_key_warns_nothing(folder):
    extra = (
        '[[workflows]]\nname = "full"\nclass_name = "fh_good:Good"\nbinding = "FULL"\n'
        'max_running = 2\nplacement = "shared"\non_divergence = "pause"\n'
        'default_retention = { success_retention = "1 day" }\nlimits = { steps = 50 }\n'
        'schedules = ["*/5 * * * *"]\n'
    )
    path = config_with(folder, extra=extra)
    config = load_config(path)
    assert config.workflows[0].placement is not None
    assert config_check.check(path, config) == ([], [])
