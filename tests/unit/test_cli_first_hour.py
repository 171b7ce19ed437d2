"""The ``pyflow`` CLI a newcomer meets, against a real gateway over the fake
transport (no Ray): version, --json anywhere, paging info, trigger --wait,
--params-file, instance logs, retrying steps, brackets kept, 80 columns."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time

import pytest
import uvicorn
from typer.testing import CliRunner

from pyflow_actors.cli import app
from pyflow_actors.client.api import AsyncClient
from pyflow_actors.config import EngineConfig, TokenSpec
from pyflow_actors.errors import ConfigError
from pyflow_actors.models import (
    AttemptInfo,
    CreateOptions,
    ErrorInfo,
    InstanceStatus,
    InstanceStatusInfo,
    LogLine,
    StepInfo,
)
from service import create_app
from tests.fake_transport import FakeTransport

TOKEN, ACCOUNT = "cli-token", "acme"


class FinishingTransport(FakeTransport):
    """Instances finish as soon as they are created: complete with their params
    as output, or errored when the params say ``{"fail": true}``."""

    async def create(
        self, workflow: str, options: list[CreateOptions], *, batch: bool
    ) -> list[InstanceStatusInfo]:
        created = await super().create(workflow, options, batch=batch)
        for info in created:
            params = self.params[(workflow, info.id)]
            if isinstance(params, dict) and params.get("fail"):
                error = ErrorInfo(name="ValueError", message="bad [input]")
                self.set_status(workflow, info.id, "errored", error=error, ended_at=time.time())
            else:
                self.set_status(
                    workflow, info.id, "complete", output={"got": params}, ended_at=time.time()
                )
        return created


@pytest.fixture(scope="module")
def served():
    """A gateway on a free port, in a thread, over a :class:`FinishingTransport`."""
    fake = FinishingTransport(("hello",))
    gateway = create_app(
        AsyncClient(fake),
        EngineConfig(storage="/nonexistent"),
        tokens=(TokenSpec(TOKEN, (ACCOUNT,)),),
    )
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    server = uvicorn.Server(uvicorn.Config(gateway, log_level="error", lifespan="off"))
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])), daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the gateway did not start"
        time.sleep(0.02)
    yield fake, f"http://127.0.0.1:{sock.getsockname()[1]}"
    server.should_exit = True
    thread.join(timeout=10)
    sock.close()


@pytest.fixture
def fake(served) -> FinishingTransport:
    return served[0]


@pytest.fixture
def pyflow(served, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no pyflow.toml here: nothing to discover
    runner = CliRunner()
    env = {"PYFLOW_URL": served[1], "PYFLOW_TOKEN": TOKEN, "PYFLOW_ACCOUNT": ACCOUNT}

    def invoke(*args: str, input: str | None = None, **extra: str):  # noqa: A002
        return runner.invoke(app, list(args), env={**env, **extra}, input=input)

    return invoke


def ok(result) -> str:
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return result.stdout


def test_version_is_printed(pyflow):
    assert ok(pyflow("--version")).startswith("pyflow 0.")


def test_json_is_accepted_before_or_after_the_command_and_lists_carry_paging(pyflow):
    after = json.loads(ok(pyflow("list", "--json")))
    before = json.loads(ok(pyflow("--json", "list")))
    assert after == before
    assert [w["name"] for w in after["result"]] == ["hello"]
    assert after["result_info"]["total_count"] == 1
    ok(pyflow("trigger", "hello", "1"))
    instances = json.loads(ok(pyflow("--json", "instances", "list", "hello", "--per-page", "1")))
    assert len(instances["result"]) == 1
    assert (
        instances["result_info"]["per_page"] == 1 and instances["result_info"]["total_count"] >= 1
    )


def test_trigger_wait_prints_the_output_of_the_finished_instance(pyflow):
    out = ok(pyflow("trigger", "hello", '{"a": [1, 2]}', "--wait"))
    assert "complete" in out
    assert json.loads(out[out.index("{") :]) == {"got": {"a": [1, 2]}}
    as_json = json.loads(ok(pyflow("trigger", "hello", "{}", "--wait", "--json")))
    assert as_json["status"] == "complete" and as_json["output"] == {"got": {}}


def test_trigger_wait_on_an_errored_instance_is_one_line_with_brackets_kept(pyflow):
    result = pyflow("trigger", "hello", '{"fail": true}', "--wait")
    assert result.exit_code == 1
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("error: instance ") and line.endswith("errored: ValueError: bad [input]")


def test_error_messages_keep_square_brackets(pyflow, fake):
    fake.fail["list_workflows"] = ConfigError("unknown [engine] key; see [[workflows]]")
    result = pyflow("list")
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "error: config.invalid: unknown [engine] key; see [[workflows]]"
    )


def test_params_come_from_a_file_or_stdin(pyflow, fake, tmp_path):
    big = {"rows": list(range(2000))}
    (tmp_path / "params.json").write_text(json.dumps(big))
    created = json.loads(ok(pyflow("trigger", "hello", "--params-file", "params.json", "--json")))
    assert fake.params[("hello", created["id"])] == big
    piped = json.loads(ok(pyflow("trigger", "hello", "--params-file", "-", "--json", input="[3]")))
    assert fake.params[("hello", piped["id"])] == [3]
    both = pyflow("trigger", "hello", "{}", "--params-file", "params.json")
    assert both.exit_code == 1 and "not both" in both.stderr
    missing = pyflow("trigger", "hello", "--params-file", "nope.json")
    assert missing.exit_code == 1 and "cannot read --params-file 'nope.json'" in missing.stderr


def log_line(n: int, step: str | None, message: str, level: str | None = None) -> LogLine:
    return LogLine(n=n, time=time.time(), step=step, stream="log" if level else "stdout",
                   level=level, message=message)  # fmt: skip


def test_instance_logs_show_step_and_message_and_follow_ends_when_final(pyflow, fake):
    instance_id = json.loads(ok(pyflow("trigger", "hello", "{}", "--json")))["id"]
    fake.logs[("hello", instance_id)] = [
        log_line(1, None, "starting [phase 1]"),
        log_line(2, "fetch", "got 3 rows"),
        log_line(3, "fetch", "user.code: slow", level="WARNING"),
    ]
    out = ok(pyflow("instances", "logs", "hello", instance_id))
    lines = out.strip().splitlines()
    assert [line.split(" ", 1)[1] for line in lines] == [
        "[run] starting [phase 1]",
        "[fetch] got 3 rows",
        "[fetch] WARNING user.code: slow",
    ]
    tail = ok(pyflow("instances", "logs", "hello", instance_id, "--tail", "1"))
    assert tail.strip().endswith("slow") and "starting" not in tail
    listed = json.loads(ok(pyflow("instances", "logs", "hello", instance_id, "--json")))
    assert [line["n"] for line in listed["lines"]] == [1, 2, 3] and listed["next_after"] == 3
    followed = ok(pyflow("instances", "logs", "hello", instance_id, "--follow"))  # final: returns
    assert followed.count("\n") == 3


def test_instance_logs_follow_prints_lines_as_they_come(pyflow, fake):
    fake.instances[("hello", "slow")] = InstanceStatusInfo(
        id="slow", workflow="hello", status=InstanceStatus.RUNNING, created_at=time.time()
    )
    fake.logs[("hello", "slow")] = [log_line(1, None, "first")]

    def later() -> None:
        time.sleep(0.8)
        fake.logs[("hello", "slow")].append(log_line(2, "step", "second"))
        fake.set_status("hello", "slow", "complete")

    threading.Thread(target=later).start()
    out = ok(pyflow("instances", "logs", "hello", "slow", "-f", "--json"))
    assert [json.loads(line)["message"] for line in out.splitlines()] == ["first", "second"]


def test_describe_shows_the_retrying_step_its_last_error_and_when_it_tries_again(pyflow, fake):
    now = time.time()
    fake.instances[("hello", "retry")] = InstanceStatusInfo(
        id="retry", workflow="hello", status=InstanceStatus.RUNNING, created_at=now
    )
    fake.steps[("hello", "retry")] = [
        StepInfo(
            type="step",
            name="charge card",
            start=now,
            attempts=[
                AttemptInfo(
                    start=now,
                    end=now + 1,
                    success=False,
                    error=ErrorInfo(name="TimeoutError", message="gateway [502]"),
                ),
            ],  # fmt: skip
            next_attempt_at=now + 61,
        )
    ]
    out = ok(pyflow("instances", "describe", "hello", "retry", COLUMNS="80"))
    due = time.strftime("%H:%M:%S", time.localtime(now + 61))
    assert "Retrying" in out and "retrying" in out
    flat = " ".join(out.split())
    assert "attempt 1 failed: TimeoutError: gateway [502]; next attempt at" in flat
    assert due in out
    assert max(len(line) for line in out.splitlines()) <= 80, out


def test_describe_shows_rollback_steps_and_how_the_rollback_ended(pyflow, fake):
    now = time.time()
    fake.instances[("hello", "saga")] = InstanceStatusInfo(
        id="saga",
        workflow="hello",
        status=InstanceStatus.ERRORED,
        created_at=now,
        ended_at=now + 3,
        error=ErrorInfo(name="ValueError", message="declined"),
    )
    attempt = [AttemptInfo(start=now + 1, end=now + 2, success=True)]
    fake.steps[("hello", "saga")] = [
        StepInfo(type="step", name="book", start=now, end=now + 1, finished=True, success=True),
        StepInfo(
            type="rollback",
            name="book-1",
            start=now + 1,
            end=now + 2,
            finished=True,
            success=True,
            attempts=attempt,
        ),
    ]
    out = ok(pyflow("instances", "describe", "hello", "saga", COLUMNS="100"))
    assert "Rollback" in out and "complete" in out
    [row] = [line for line in out.splitlines() if "book-1" in line]
    assert "rollback" in row and "complete" in row and "waiting" not in row


def test_tables_fit_80_columns(pyflow, fake):
    for _ in range(3):
        ok(pyflow("trigger", "hello", '{"fail": true}'))
    for args in (("list",), ("instances", "list", "hello"), ("describe", "hello")):
        out = ok(pyflow(*args, COLUMNS="80"))
        assert max(len(line) for line in out.splitlines()) <= 80, out
        assert "hello" in out or "errored" in out
    listed = ok(pyflow("instances", "list", "hello", COLUMNS="80"))
    ids = [i for (w, i) in fake.instances if w == "hello"]
    assert any(i[:8] in listed for i in ids)  # ids stay readable (folded, not cut)
