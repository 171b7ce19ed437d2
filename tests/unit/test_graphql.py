"""The GraphQL Analytics API over a real analytics store (fed by real journals),
through the gateway and the in-memory transport: the reference's queries run
verbatim and count right, auth by account, introspection, clear errors."""

from __future__ import annotations

import asyncio
import datetime as dt

import httpx
import pytest

from pyflow_actors.analytics import AnalyticsQuery, Condition, Order
from pyflow_actors.analytics.store import AnalyticsStore
from pyflow_actors.client.api import AsyncClient
from pyflow_actors.client.http_transport import HttpTransport
from pyflow_actors.config import EngineConfig, TokenSpec
from pyflow_actors.errors import InvalidAnalyticsQuery
from pyflow_actors.storage.journal import DuckJournal, journal_path
from service import create_app
from tests.analytics_workload import EXPECTED, build_workload
from tests.fake_transport import FakeTransport
from tests.unit.test_gateway import AppClient

TOKEN, ACCOUNT = "unit-token", "acme"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
URL = "/client/v4/graphql"

# The three queries of the reference's "Metrics and analytics" page, verbatim.
INVOCATIONS = """
query WorkflowInvocationsExample(
  $accountTag: string!
  $datetimeStart: Time
  $datetimeEnd: Time
  $workflowName: string
) {
  viewer {
    accounts(filter: { accountTag: $accountTag }) {
      wallTime: workflowsAdaptiveGroups(
        limit: 10000
        filter: {
          datetimeHour_geq: $datetimeStart
          datetimeHour_leq: $datetimeEnd
          workflowName: $workflowName
        }
        orderBy: [count_DESC]
      ) {
        count
        sum {
          wallTime
        }
        dimensions {
          date: datetimeHour
        }
      }
    }
  }
}
"""
INVOCATIONS_2 = """
query WorkflowInvocationsExample2(
  $accountTag: string!
  $datetimeStart: Time
  $datetimeEnd: Time
  $workflowName: string
) {
  viewer {
    accounts(filter: { accountTag: $accountTag }) {
      instanceRuns: workflowsAdaptiveGroups(
        limit: 10000
        filter: {
          datetimeHour_geq: $datetimeStart
          datetimeHour_leq: $datetimeEnd
          workflowName: $workflowName
          eventType: "WORKFLOW_START"
        }
        orderBy: [count_DESC]
      ) {
        count
        dimensions {
          date: datetimeHour
        }
      }
      stepCount: workflowsAdaptiveGroups(
        limit: 10000
        filter: {
          datetimeHour_geq: $datetimeStart
          datetimeHour_leq: $datetimeEnd
          workflowName: $workflowName
          eventType: "WORKFLOW_START"
        }
        orderBy: [count_DESC]
      ) {
        count
        dimensions {
          date: datetimeHour
        }
      }
      wallTime: workflowsAdaptiveGroups(
        limit: 10000
        filter: {
          datetimeHour_geq: $datetimeStart
          datetimeHour_leq: $datetimeEnd
          workflowName: $workflowName
        }
        orderBy: [count_DESC]
      ) {
        count
        sum {
          wallTime
        }
        dimensions {
          date: datetimeHour
        }
      }
    }
  }
}
"""
RAW = """
query WorkflowsAdaptiveExample(
  $accountTag: string!
  $datetimeStart: Time
  $datetimeEnd: Time
  $instanceId: string
) {
  viewer {
    accounts(filter: { accountTag: $accountTag }) {
      workflowsAdaptive(
        limit: 100
        filter: {
          datetime_geq: $datetimeStart
          datetime_leq: $datetimeEnd
          instanceId: $instanceId
        }
        orderBy: [datetime_ASC]
      ) {
        datetime
        eventType
        workflowName
        instanceId
        stepCount
        wallTime
      }
    }
  }
}
"""


def _iso(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


NOW = dt.datetime.now(dt.timezone.utc)
VARIABLES = {
    "accountTag": ACCOUNT,
    "datetimeStart": _iso(NOW - dt.timedelta(days=1)),
    "datetimeEnd": _iso(NOW + dt.timedelta(days=1)),
    "workflowName": "shop",
    "instanceId": "ok-1",
}


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    root = tmp_path_factory.mktemp("graphql")
    rows = build_workload(root)
    store = AnalyticsStore(root)
    store.ingest(rows)
    yield store
    store.close()


@pytest.fixture
def fake(store) -> FakeTransport:
    fake = FakeTransport(("shop",))
    fake.analytics = store
    return fake


@pytest.fixture
def api(fake) -> AppClient:
    app = create_app(
        AsyncClient(fake),
        EngineConfig(storage="/nonexistent"),
        tokens=(TokenSpec(TOKEN, (ACCOUNT,)), TokenSpec("beta-token", ("beta",))),
    )
    return AppClient(app, headers=AUTH)


def ask(api: AppClient, query: str, variables: dict | None = None, **kwargs) -> dict:
    response = api.post(URL, json={"query": query, "variables": variables or VARIABLES}, **kwargs)
    assert response.status_code == 200, response.text
    return response.json()


def expected_wall_time_ms(root) -> int:
    """Every event's wallTime, worked out from the journals by hand."""

    def ms(start, end):
        return max(0, round((end - start) * 1000))

    total = 500  # the terminated instance 'gone': queued 0.5 s before it ended
    for instance in ("ok-1", "ok-2", "bad-1"):
        with DuckJournal(journal_path(root, "shop", instance), read_only=True) as journal:
            meta, result = journal.meta(), journal.result()
            total += ms(float(meta["started_at"]), result.ended_at)
            for step in journal.steps().values():
                total += ms(step.started_at, step.ended_at)
                total += sum(ms(a.started_at, a.ended_at) for a in step.attempts)
    return total


def test_the_first_reference_query_counts_every_event_and_its_wall_time(api, store):
    body = ask(api, INVOCATIONS)
    assert "errors" not in body, body
    [account] = body["data"]["viewer"]["accounts"]
    groups = account["wallTime"]
    assert sum(g["count"] for g in groups) == sum(EXPECTED.values())
    assert sum(g["sum"]["wallTime"] for g in groups) == expected_wall_time_ms(store.root)
    hour = NOW.strftime("%Y-%m-%dT")
    assert all(g["dimensions"]["date"].startswith(hour[:8]) for g in groups)
    assert all(g["dimensions"]["date"].endswith(":00:00Z") for g in groups)
    counts = [g["count"] for g in groups]
    assert counts == sorted(counts, reverse=True)


def test_the_second_reference_query_answers_its_three_aliases(api, store):
    body = ask(api, INVOCATIONS_2)
    assert "errors" not in body, body
    [account] = body["data"]["viewer"]["accounts"]
    assert sum(g["count"] for g in account["instanceRuns"]) == EXPECTED["WORKFLOW_START"]
    assert sum(g["count"] for g in account["stepCount"]) == EXPECTED["WORKFLOW_START"]
    wall = account["wallTime"]
    assert sum(g["sum"]["wallTime"] for g in wall) == expected_wall_time_ms(store.root)


def test_the_raw_rows_reference_query_lists_one_instance_in_time_order(api):
    body = ask(api, RAW)
    assert "errors" not in body, body
    [account] = body["data"]["viewer"]["accounts"]
    rows = account["workflowsAdaptive"]
    assert len(rows) == 15  # see tests/analytics_workload.py: one 'ok' instance
    assert {r["instanceId"] for r in rows} == {"ok-1"}
    assert set(rows[0]) == {
        "datetime", "eventType", "workflowName", "instanceId", "stepCount", "wallTime"
    }  # fmt: skip
    assert rows[0]["eventType"] == "WORKFLOW_QUEUED" and rows[-1]["eventType"] == "WORKFLOW_SUCCESS"
    assert [r["datetime"] for r in rows] == sorted(r["datetime"] for r in rows)
    charge_attempts = [r for r in rows if r["eventType"] == "ATTEMPT_FAILURE"]
    assert len(charge_attempts) == 1 and charge_attempts[0]["stepCount"] == 1


def test_filters_with_suffixes_order_and_limit(api):
    query = """
    query ($accountTag: string!) {
      viewer { accounts(filter: {accountTag: $accountTag}) {
        top: workflowsAdaptiveGroups(
          limit: 2
          filter: {eventType_in: ["ATTEMPT_START", "STEP_START", "WORKFLOW_QUEUED"], stepCount_lt: 3}
          orderBy: [count_DESC]
        ) { count dimensions { kind: eventType } }
        slowest: workflowsAdaptiveGroups(
          limit: 10, filter: {eventType: "STEP_SUCCESS"}, orderBy: [max_wallTime_DESC]
        ) { count max { wallTime } avg { wallTime } quantiles { wallTimeP50 wallTimeP99 }
            dimensions { stepName } }
      } }
    }"""
    body = ask(api, query, {"accountTag": ACCOUNT})
    assert "errors" not in body, body
    [account] = body["data"]["viewer"]["accounts"]
    # stepCount < 3 keeps charge (1) and the nap (2); queued events have no stepCount.
    assert account["top"] == [
        {"count": 5, "dimensions": {"kind": "ATTEMPT_START"}},
        {"count": 3, "dimensions": {"kind": "STEP_START"}},
    ]
    slowest = account["slowest"]
    assert {g["dimensions"]["stepName"] for g in slowest} == {"charge", "ship"}
    maxima = [g["max"]["wallTime"] for g in slowest]
    assert maxima == sorted(maxima, reverse=True)
    assert all(g["quantiles"]["wallTimeP50"] <= g["max"]["wallTime"] for g in slowest)


def test_an_account_the_token_does_not_hold_gets_no_data_and_an_error(api):
    body = ask(api, INVOCATIONS, {**VARIABLES, "accountTag": "beta"})
    assert body["data"] == {"viewer": None}
    [error] = body["errors"]
    assert error["extensions"]["code"] == "auth.forbidden"
    assert "beta" in error["message"]


def test_without_a_valid_token_nothing_runs(api):
    response = api.post(URL, json={"query": INVOCATIONS}, headers={"Authorization": ""})
    assert response.status_code == 401
    assert response.json()["errors"][0]["message"].startswith("auth.unauthorized")
    response = api.post(URL, json={"query": INVOCATIONS}, headers={"Authorization": "Bearer no"})
    assert response.status_code == 401


def test_introspection_describes_the_datasets_and_cloudflare_scalars(api):
    body = ask(
        api,
        """{ account: __type(name: "Account") { fields { name } }
             filter: __type(name: "WorkflowsAdaptiveGroupsFilter") { inputFields { name } }
             scalar: __type(name: "string") { kind } time: __type(name: "Time") { kind } }""",
    )
    data = body["data"]
    assert {f["name"] for f in data["account"]["fields"]} >= {
        "workflowsAdaptiveGroups",
        "workflowsAdaptive",
    }
    filters = {f["name"] for f in data["filter"]["inputFields"]}
    assert {"datetimeHour_geq", "datetimeHour_leq", "workflowName", "eventType_in"} <= filters
    assert data["scalar"]["kind"] == data["time"]["kind"] == "SCALAR"


@pytest.mark.parametrize(
    "query, variables, needle",
    [
        ("{ viewer { nonsense } }", {}, "nonsense"),
        ("{ viewer { accounts", {}, "Syntax Error"),
        (INVOCATIONS, {**VARIABLES, "datetimeStart": "last tuesday"}, "not a time"),
        (INVOCATIONS, {**VARIABLES, "accountTag": 5}, "string expected"),
    ],
)
def test_queries_that_cannot_run_are_400_with_a_message(api, query, variables, needle):
    response = api.post(URL, json={"query": query, "variables": variables})
    assert response.status_code == 400, response.text
    body = response.json()
    assert body.get("data") is None and needle in body["errors"][0]["message"]
    assert "Traceback" not in response.text


def test_a_bad_body_and_a_bad_order_are_clear_errors(api):
    response = api.post(URL, content=b"not json", headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert response.json()["errors"][0]["message"].startswith("validation.invalid")
    order_without_dimension = """
    query ($accountTag: string!) { viewer { accounts(filter: {accountTag: $accountTag}) {
      workflowsAdaptiveGroups(limit: 5, orderBy: [datetimeHour_ASC]) { count } } } }"""
    body = ask(api, order_without_dimension, {"accountTag": ACCOUNT})
    assert body["errors"][0]["extensions"]["code"] == "analytics.invalid_query"
    assert "select dimensions" in body["errors"][0]["message"]


def test_an_engine_without_analytics_says_so(api, fake):
    fake.analytics = None
    body = ask(api, INVOCATIONS)
    assert body["data"] == {"viewer": None}
    assert body["errors"][0]["extensions"]["code"] == "analytics.unavailable"


def test_both_transports_answer_an_analytics_query_with_the_same_rows(fake, store):
    """The HTTP transport asks through GraphQL; the rows match the store's own."""
    app = create_app(AsyncClient(fake), EngineConfig(), tokens=(TokenSpec(TOKEN, (ACCOUNT,)),))
    queries = [
        AnalyticsQuery(
            dataset="workflowsAdaptiveGroups",
            dimensions=["eventType", "stepName"],
            filters=[
                Condition(field="workflowName", value="shop"),
                Condition(field="stepCount", op="geq", value=1),
                Condition(field="eventType", op="notin", value=["SLEEP_START"]),
            ],
            order_by=[Order(field="count", direction="DESC")],
            limit=50,
        ),
        AnalyticsQuery(
            dataset="workflowsAdaptive",
            filters=[Condition(field="instanceId", value="bad-1")],
            limit=20,
        ),
    ]

    async def scenario() -> None:
        transport = HttpTransport(
            "http://gw", token=TOKEN, account=ACCOUNT, transport=httpx.ASGITransport(app)
        )
        for query in queries:
            assert await transport.analytics_query(query) == store.query(query)
        fake.fail["analytics_query"] = InvalidAnalyticsQuery("no such thing")
        with pytest.raises(InvalidAnalyticsQuery, match="no such thing"):
            await transport.analytics_query(queries[0])
        await transport.close()

    asyncio.run(scenario())
