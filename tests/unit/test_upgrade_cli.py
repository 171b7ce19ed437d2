"""``pyflow check`` and ``pyflow replay`` over a real storage directory (no engine, no Ray)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pyflow_actors.cli import app
from pyflow_actors.runtime.protocol import OutcomeKind

from .test_upgrade_pinning import SPEC_V1, V1, V1_ID, V2, run_instance, trial_over

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def storage(tmp_path: Path) -> Path:
    """One instance sleeping through its trial on version 1, one finished."""
    root = tmp_path / "storage"
    assert run_instance(root / "journals/signup/s-1.duckdb", SPEC_V1).kind == OutcomeKind.HIBERNATE
    finished = root / "journals/signup/done.duckdb"
    run_instance(finished, SPEC_V1)
    trial_over(finished)
    assert run_instance(finished, SPEC_V1).kind == OutcomeKind.COMPLETE
    return root


def config_for(tmp_path: Path, class_name: str) -> Path:
    path = tmp_path / "pyflow.toml"
    path.write_text(f'[[workflows]]\nname = "signup"\nclass_name = "{class_name}"\n')
    return path


def pyflow(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def test_check_reports_a_diverging_instance_with_the_step_and_exits_1(tmp_path, storage):
    code, output = pyflow("check", "-c", str(config_for(tmp_path, V2)), "--storage", str(storage))
    assert code == 1
    assert "s-1" in output and "diverged" in output and "'verify email'" in output
    assert "done" not in output  # a finished instance never replays


def test_check_says_compatible_for_unchanged_code(tmp_path, storage):
    code, output = pyflow(
        "check", "-c", str(config_for(tmp_path, V1)), "--storage", str(storage), "--json"
    )
    assert code == 0
    [verdict] = json.loads(output)
    assert (verdict["id"], verdict["verdict"]) == ("s-1", "compatible")


def test_check_as_json_gives_the_position_and_both_sides(tmp_path, storage):
    code, output = pyflow(
        "check", "-c", str(config_for(tmp_path, V2)), "--storage", str(storage), "--json"
    )
    [verdict] = json.loads(output)
    assert verdict["divergence"] == {
        "position": 2,
        "code": {"kind": "step", "key": "verify email"},
        "journal": {"kind": "sleep", "key": "trial"},
    }


def test_check_skips_an_instance_of_a_workflow_missing_from_the_config(tmp_path, storage):
    path = tmp_path / "pyflow.toml"
    path.write_text(f'[[workflows]]\nname = "other"\nclass_name = "{V1}"\n')
    code, output = pyflow("check", "-c", str(path), "--storage", str(storage), "--json")
    assert code == 0
    [verdict] = json.loads(output)
    assert verdict["verdict"] == "skipped" and "not in the config" in verdict["detail"]


def test_replay_prints_each_recorded_result_and_runs_no_step(tmp_path, storage):
    code, output = pyflow(
        "replay", "signup", "done", "-c", str(config_for(tmp_path, V1)), "--storage", str(storage)
    )
    assert code == 0, output
    assert "step 'create account': -> \"account-v1\"" in output
    assert "sleep 'trial': slept" in output
    assert "step 'charge': -> \"charged-v1\"" in output
    assert "replayed 3 recorded step(s)" in output


def test_replay_reads_a_finished_instance_folded_into_the_history_store(tmp_path, storage):
    from pyflow_actors.models import InstanceStatus
    from pyflow_actors.storage.history import HistoryStore
    from pyflow_actors.storage.registry import InstanceRow

    done = InstanceRow("signup", "done", InstanceStatus.COMPLETE, None, 1.0)
    assert HistoryStore(storage).fold([done]).removed == 1
    assert not (storage / "journals/signup/done.duckdb").exists()
    code, output = pyflow(
        "replay", "signup", "done", "-c", str(config_for(tmp_path, V1)), "--storage", str(storage)
    )
    assert code == 0, output
    assert "step 'charge': -> \"charged-v1\"" in output
    assert "replayed 3 recorded step(s)" in output


def test_replay_of_an_unknown_instance_is_a_clear_error(tmp_path, storage):
    code, output = pyflow(
        "replay", "signup", "nope", "-c", str(config_for(tmp_path, V1)), "--storage", str(storage)
    )
    assert code == 1
    assert "instance.not_found" in output and "'nope'" in output


def test_check_replays_an_instance_of_a_kept_version_on_that_version(tmp_path):
    storage = tmp_path / "storage"
    run_instance(storage / "journals/signup/s-1.duckdb", SPEC_V1, version_id=V1_ID)
    config = config_for(tmp_path, V2)
    config.write_text(config.read_text() + f'versions = ["{V1}"]\n')
    code, output = pyflow("check", "-c", str(config), "--storage", str(storage), "--json")
    assert code == 0, output
    [verdict] = json.loads(output)
    assert verdict["verdict"] == "compatible"
    assert verdict["detail"].startswith(f"on kept version {V1}: ")
    code, output = pyflow(
        "check", "-c", str(config_for(tmp_path, V2)), "--storage", str(storage), "--json"
    )
    assert (code, json.loads(output)[0]["verdict"]) == (1, "diverged")  # v1 no longer kept


def test_replay_stops_at_the_step_in_progress(tmp_path, storage):
    code, output = pyflow(
        "replay", "signup", "s-1", "-c", str(config_for(tmp_path, V1)), "--storage", str(storage)
    )
    assert code == 0, output
    assert "step 'create account': -> \"account-v1\"" in output
    assert "sleep 'trial': in progress" in output
    assert "charge" not in output
