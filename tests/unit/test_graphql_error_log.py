"""GraphQL errors in the server's log: a client's mistakes at DEBUG, a crashed resolver at ERROR."""

from __future__ import annotations

import logging

import pytest

from tests.fake_transport import FakeTransport

from .gateway_on_fake import ACCOUNT, TOKEN, gateway_app
from .test_gateway import AppClient

QUERY = """query ($a: string!) { viewer { accounts(filter: {accountTag: $a}) {
  workflowsAdaptiveGroups(limit: 10) { count } } } }"""


def ask(fake: FakeTransport, body: dict) -> dict:
    api = AppClient(gateway_app(fake), headers={"Authorization": f"Bearer {TOKEN}"})
    return api.post("/client/v4/graphql", json=body).json()


def loud(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.parametrize(
    "body",
    [
        {"query": "{ viewer { accounts { nope } } }"},  # not in the schema
        {"query": "{ viewer {"},  # syntax
        {"query": QUERY, "variables": {"a": "someone-else"}},  # an account not held
        {
            "query": QUERY.replace("limit: 10", 'limit: 10, filter: {datetime: "noon"}'),
            "variables": {"a": ACCOUNT},
        },  # a scalar that does not parse
    ],
)
def test_a_clients_mistake_is_answered_and_not_logged_as_an_error(caplog, body):
    caplog.set_level(logging.DEBUG)
    answer = ask(FakeTransport(), body)
    assert answer["errors"], answer
    assert loud(caplog) == []
    assert any("graphql client error" in r.getMessage() for r in caplog.records)


def test_a_crashed_resolver_is_logged_as_an_error_with_its_traceback(caplog):
    fake = FakeTransport()
    fake.fail["analytics_query"] = RuntimeError("analytics store on fire")
    answer = ask(fake, {"query": QUERY, "variables": {"a": ACCOUNT}})
    assert answer["errors"][0]["message"].startswith("unexpected server error")
    assert "on fire" not in str(answer)  # nothing internal in the answer
    records = loud(caplog)
    assert records and any(r.exc_info for r in records)
