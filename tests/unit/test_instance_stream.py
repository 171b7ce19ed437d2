"""An instance's event history in the shape of Cloudflare's instance.subscribe(),
derived from real journals, and streamed as server-sent events by the gateway."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from httpx_sse import aconnect_sse

from pyflow_actors.client.api import AsyncClient
from pyflow_actors.config import EngineConfig, TokenSpec
from pyflow_actors.models import ErrorInfo, InstanceDetail, InstanceStatus, InstanceStatusInfo
from pyflow_actors.storage.journal import DuckJournal, journal_path, step_infos
from pyflow_actors.subscriptions.instance_events import history_events, status_event
from service import create_app
from tests.analytics_workload import build_workload
from tests.fake_transport import FakeTransport

TOKEN, ACCOUNT = "unit-token", "acme"
URL = f"/client/v4/accounts/{ACCOUNT}/workflows/shop/instances"

OK_RUN = [
    "workflow_queued", "workflow_started", "step_started", "attempt_started", "attempt_errored",
    "attempt_started", "attempt_completed", "step_completed", "sleep_started", "sleep_completed",
    "step_started", "attempt_started", "attempt_completed", "step_completed", "workflow_completed",
]  # fmt: skip


@pytest.fixture(scope="module")
def details(tmp_path_factory) -> dict[str, InstanceDetail]:
    """InstanceDetail of each workload instance, steps read from its real journal."""
    root = tmp_path_factory.mktemp("stream")
    out = {}
    for row in build_workload(root):
        path = journal_path(root, "shop", row.id)
        steps = []
        if path.exists():
            with DuckJournal(path, read_only=True) as journal:
                steps = step_infos(journal)
        status = InstanceStatusInfo(
            id=row.id, workflow="shop", status=InstanceStatus(row.status),
            created_at=row.created_at, started_at=row.started_at, ended_at=row.ended_at,
            output="shipped" if row.status == "complete" else None,
            error=ErrorInfo(name="PaymentError", message="card declined")
            if row.status == "errored" else None,
        )  # fmt: skip
        out[row.id] = InstanceDetail(status=status, steps=steps)
    return out


def test_a_run_becomes_the_documented_event_sequence(details):
    events = history_events(details["ok-1"])
    assert [e.type for e in events] == OK_RUN
    assert [e.eventId for e in events] == list(range(1, 16))
    assert [e.timestamp for e in events] == sorted(e.timestamp for e in events)
    errored = events[4].model_dump()
    assert (errored["stepName"], errored["attempt"], errored["error"]["name"]) == (
        "charge", 1, "ValueError",
    )  # fmt: skip
    assert events[-1].model_dump()["output"] == "shipped" and events[-1].is_terminal
    failed = [e.type for e in history_events(details["bad-1"])]
    assert failed[-3:] == ["attempt_errored", "step_errored", "workflow_errored"]
    assert [e.type for e in history_events(details["gone"])] == [
        "workflow_queued", "workflow_terminated",
    ]  # fmt: skip


def test_the_history_of_a_running_instance_is_a_prefix_of_its_final_history(details):
    final = details["ok-1"]
    first_step = final.steps[0]
    running = InstanceDetail(
        status=final.status.model_copy(
            update={"status": InstanceStatus.RUNNING, "ended_at": None, "output": None}
        ),
        steps=[first_step],
    )
    partial = history_events(running)
    assert len(partial) == 8
    assert partial == history_events(final)[: len(partial)]


def test_live_status_changes_have_no_event_id():
    event = status_event("i", InstanceStatus.PAUSED, 1.5)
    assert (event.type, event.eventId, event.timestamp) == ("workflow_paused", None, 1500.0)
    assert status_event("i", InstanceStatus.COMPLETE, 1.0) is None  # in the history instead


@pytest.fixture
def fake(details) -> FakeTransport:
    fake = FakeTransport(("shop",))
    for instance_id, detail in details.items():
        fake.instances[("shop", instance_id)] = detail.status
        fake.steps[("shop", instance_id)] = list(detail.steps)
    return fake


def stream(
    fake: FakeTransport, path: str, during=None, headers=None, params=None
) -> tuple[httpx.Response, list[dict]]:
    """The response and its events (``{"event", "data", "id"?}``), read with httpx-sse."""
    app = create_app(AsyncClient(fake), EngineConfig(), tokens=(TokenSpec(TOKEN, (ACCOUNT,)),))
    auth = {"Authorization": f"Bearer {TOKEN}", **(headers or {})}

    async def read() -> tuple[httpx.Response, list[dict]]:
        transport = httpx.ASGITransport(app)
        async with (
            httpx.AsyncClient(transport=transport, base_url="http://gw") as client,
            aconnect_sse(client, "GET", path, headers=auth, params=params) as source,
        ):
            if source.response.status_code != 200:
                await source.response.aread()
                return source.response, []
            frames = []
            async for event in source.aiter_sse():
                frame = {"event": event.event, "data": json.loads(event.data)}
                if event.id:
                    frame["id"] = event.id
                frames.append(frame)
            return source.response, frames

    async def go() -> tuple[httpx.Response, list[dict]]:
        reading = asyncio.ensure_future(read())
        if during is not None:
            await during()
        return await asyncio.wait_for(reading, timeout=30)

    return asyncio.run(go())


def test_a_finished_instance_streams_its_history_and_the_stream_ends(fake):
    response, frames = stream(fake, f"{URL}/ok-1/subscribe")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert [f["event"] for f in frames] == OK_RUN
    assert [int(f["id"]) for f in frames] == list(range(1, 16))
    assert frames[2]["data"]["stepName"] == "charge"


def test_cursor_last_event_id_and_filter_resume_and_select(fake):
    _, frames = stream(fake, f"{URL}/ok-1/subscribe", params={"cursor": 12})
    assert [f["id"] for f in frames] == ["13", "14", "15"]
    _, resumed = stream(fake, f"{URL}/ok-1/subscribe", headers={"Last-Event-ID": "14"})
    assert [f["id"] for f in resumed] == ["15"]
    _, only = stream(fake, f"{URL}/ok-1/subscribe", params={"filter": ["step_completed"]})
    assert [f["data"]["stepName"] for f in only] == ["charge", "ship"]


def test_a_running_instance_streams_new_events_as_they_happen(fake, details):
    final = details["ok-1"]
    fake.instances[("shop", "ok-1")] = final.status.model_copy(
        update={"status": InstanceStatus.RUNNING, "ended_at": None, "output": None}
    )
    fake.steps[("shop", "ok-1")] = final.steps[:1]

    async def progress() -> None:
        await asyncio.sleep(0.4)
        fake.set_status("shop", "ok-1", "paused")
        await asyncio.sleep(0.4)
        fake.instances[("shop", "ok-1")] = final.status
        fake.steps[("shop", "ok-1")] = list(final.steps)

    _, frames = stream(fake, f"{URL}/ok-1/subscribe", during=progress)
    history = [f for f in frames if f["data"]["eventId"] is not None]
    assert [f["event"] for f in history] == OK_RUN
    live = [i for i, f in enumerate(frames) if f["data"]["eventId"] is None]
    assert live == [8]  # the pause came live, after the first step's events...
    assert frames[8]["event"] == "workflow_paused"
    assert frames[8]["id"] == "8"  # ...and a reconnect resumes after the last history event


@pytest.mark.parametrize(
    "params, status, needle",
    [
        ({"cursor": "-1"}, 400, "cursor must be a whole number"),
        ({"filter": ["nope"]}, 400, "unknown event type"),
    ],
)
def test_bad_options_are_400(fake, params, status, needle):
    response, _ = stream(fake, f"{URL}/ok-1/subscribe", params=params)
    assert response.status_code == status and needle in response.text


def test_an_unknown_instance_is_a_404_envelope(fake):
    response, _ = stream(fake, f"{URL}/missing/subscribe")
    assert response.status_code == 404
    assert response.json()["errors"][0]["message"].startswith("instance.not_found")
