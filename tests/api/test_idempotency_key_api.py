"""``Idempotency-Key`` on the status edit (``PATCH .../instances/{id}/status``): a
caller's own resend of a control is applied once, through the real gateway over
HTTP, from raw HTTP, the official ``cloudflare`` SDK, our client (both transports)
and the ``pyflow`` CLI."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from pyflow_actors.errors import IdempotencyKeyReused, InvalidIdempotencyKey
from tests.api.conftest import ACCOUNT, new_id
from tests.api.test_cli import ok, pyflow  # noqa: F401 - the CLI fixture
from tests.api.test_rest_errors import assert_error
from tests.conftest import wait_for
from tests.workflows import ledger_lines

pytestmark = pytest.mark.ray


def runs(ledger: str, instance_id: str) -> int:
    """How many generations ran the instance's one step."""
    return ledger_lines(ledger).count(f"{instance_id} step-0")


def completed(http: httpx.Client, ledger: str, prefix: str) -> str:
    instance_id = new_id(prefix)
    params = {"ledger": ledger, "steps": 1, "step_seconds": 0.01}
    http.post("/ledger/instances", json={"instance_id": instance_id, "params": params})
    wait_complete(http, instance_id)
    return instance_id


def wait_complete(http: httpx.Client, instance_id: str) -> None:
    wait_for(lambda: status(http, instance_id) == "complete", 30)


def status(http: httpx.Client, instance_id: str) -> str:
    return str(http.get(f"/ledger/instances/{instance_id}/status").json()["result"]["status"])


def edit(http: httpx.Client, instance_id: str, body: dict[str, Any], key: Any) -> httpx.Response:
    headers = {} if key is None else {"Idempotency-Key": key}
    return http.patch(f"/ledger/instances/{instance_id}/status", json=body, headers=headers)


def test_a_restart_sent_twice_with_one_key_makes_one_generation_and_with_two_keys_two(http, ledger):
    instance_id = completed(http, ledger, "idem")
    first = edit(http, instance_id, {"status": "restart"}, "restart-1")
    assert first.status_code == 200 and first.json()["result"]["status"] in ("queued", "running")
    wait_complete(http, instance_id)
    again = edit(http, instance_id, {"status": "restart"}, "restart-1")  # its answer was lost
    assert again.status_code == 200, again.text
    assert again.json()["result"]["status"] == "complete"  # answered, not restarted
    assert runs(ledger, instance_id) == 2

    for key in ("restart-2", "restart-3"):  # two keys: two calls
        assert edit(http, instance_id, {"status": "restart"}, key).status_code == 200
        wait_complete(http, instance_id)
    assert runs(ledger, instance_id) == 4


def test_a_key_sent_with_another_control_is_a_409_and_applies_nothing(http, ledger):
    instance_id = completed(http, ledger, "idem-reuse")
    assert edit(http, instance_id, {"status": "restart"}, "k-1").status_code == 200
    wait_complete(http, instance_id)
    for body in (
        {"status": "terminate"},
        {"status": "restart", "from": {"name": "step-0", "count": 1, "type": "do"}},
    ):
        message = assert_error(
            edit(http, instance_id, body, "k-1"), 409, "control.idempotency_key_reused"
        )
        assert "'k-1'" in message
    assert status(http, instance_id) == "complete" and runs(ledger, instance_id) == 2
    other = completed(http, ledger, "idem-other")  # scoped to the instance: its own call
    assert edit(http, other, {"status": "restart"}, "k-1").status_code == 200
    wait_complete(http, other)
    assert runs(ledger, other) == 2


@pytest.mark.parametrize(
    "key", ["", "x" * 256, "caf\u00e9".encode("latin-1"), "caf\u00e9".encode()]
)
def test_a_bad_key_is_a_400_envelope_and_applies_nothing(http, ledger, key):
    instance_id = completed(http, ledger, "idem-bad")
    response = edit(http, instance_id, {"status": "restart"}, key)
    assert "1 to 255 printable ASCII" in assert_error(
        response, 400, "control.invalid_idempotency_key"
    )
    assert status(http, instance_id) == "complete" and runs(ledger, instance_id) == 1


def test_the_cloudflare_sdk_works_without_a_key_and_passes_one_as_an_extra_header(cf, http, ledger):
    instance_id = completed(http, ledger, "idem-cf")
    edit_status = cf.workflows.instances.status.edit
    plain = edit_status(instance_id, account_id=ACCOUNT, workflow_name="ledger", status="restart")
    assert plain.status in ("queued", "running")
    wait_complete(http, instance_id)
    keyed = {"extra_headers": {"Idempotency-Key": "cf-1"}}
    for _ in range(2):
        edit_status(
            instance_id, account_id=ACCOUNT, workflow_name="ledger", status="restart", **keyed
        )
        wait_complete(http, instance_id)
    assert runs(ledger, instance_id) == 3  # the first run, the plain restart, one keyed


def test_our_client_sends_its_key_on_both_transports(any_client, http, ledger):
    instance_id = completed(http, ledger, "idem-client")
    instance = any_client.workflow("ledger").get(instance_id)
    for _ in range(2):
        instance.restart(idempotency_key="client-1")
        assert instance.wait(30).status.value == "complete"
    assert runs(ledger, instance_id) == 2
    with pytest.raises(IdempotencyKeyReused):
        instance.pause(idempotency_key="client-1")
    with pytest.raises(InvalidIdempotencyKey):
        instance.resume(idempotency_key="x" * 256)


def test_the_cli_sends_its_idempotency_key(pyflow, http, ledger):  # noqa: F811
    instance_id = completed(http, ledger, "idem-cli")
    command = ("instances", "restart", "ledger", instance_id, "--idempotency-key", "cli-1")
    for _ in range(2):
        json.loads(ok(pyflow(*command, "--json")))
        wait_complete(http, instance_id)
    assert runs(ledger, instance_id) == 2
    refused = pyflow("instances", "pause", "ledger", instance_id, "--idempotency-key", "")
    assert refused.exit_code == 1
    assert refused.stderr.startswith("error: control.invalid_idempotency_key")
