"""The dashboard over the in-memory transport: sign-in, account scope, CSRF, paging, actions, events."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from pyflow_actors.models import CreateOptions, InstanceStatus, StepInfo
from pyflow_actors.versions import VersionInfo
from tests.fake_transport import FakeTransport
from tests.unit.gateway_on_fake import TOKEN, gateway_app
from tests.unit.test_dashboard_drawing import GRAPH

Scenario = Callable[[httpx.AsyncClient], Awaitable[Any]]


def run(fake: FakeTransport, scenario: Scenario) -> Any:
    async def go() -> Any:
        transport = httpx.ASGITransport(gateway_app(fake))
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
            return await scenario(client)

    return asyncio.run(go())


async def sign_in(client: httpx.AsyncClient) -> None:
    answer = await client.post("/dash/signin", data={"token": TOKEN})
    assert answer.status_code == 303


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found, "the page carries no CSRF token"
    return found.group(1)


@pytest.fixture
def fake() -> FakeTransport:
    engine = FakeTransport(("hello",))
    options = [CreateOptions(id=f"i-{n:02d}", params={"secret": f"p{n}"}) for n in range(60)]
    asyncio.run(engine.create("hello", options, batch=True))
    for n, key in enumerate(sorted(engine.instances)):  # distinct creation times, i-59 newest
        engine.set_status(*key, "running", created_at=1_000_000.0 + n)
    return engine


def test_without_a_session_every_page_redirects_to_sign_in(fake):
    async def scenario(client):
        pages = [
            "/dash/",
            "/dash/a/acme",
            "/dash/a/acme/workflows/hello",
            "/dash/a/acme/workflows/hello/instances/i-01",
        ]
        return [await client.get(url) for url in pages]

    for answer in run(fake, scenario):
        assert answer.status_code == 303
        assert answer.headers["location"] == "/dash/signin"
        assert "i-01" not in answer.text and "hello" not in answer.text


def test_a_wrong_token_gets_the_sign_in_page_and_no_cookie(fake):
    async def scenario(client):
        return await client.post("/dash/signin", data={"token": "not-" + TOKEN})

    answer = run(fake, scenario)
    assert answer.status_code == 401
    assert "not valid" in answer.text and "set-cookie" not in answer.headers


def test_sign_in_sets_an_httponly_strict_cookie_that_does_not_hold_the_token(fake):
    async def scenario(client):
        return await client.post("/dash/signin", data={"token": TOKEN})

    cookie = run(fake, scenario).headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/dash" in cookie
    assert TOKEN.lower() not in cookie


def test_an_account_the_token_does_not_hold_is_refused(fake):
    async def scenario(client):
        await sign_in(client)
        return await client.get("/dash/a/globex/workflows/hello")

    answer = run(fake, scenario)
    assert answer.status_code == 403 and "auth.forbidden" in answer.text
    assert "i-01" not in answer.text


def test_workflows_page_shows_counts_by_status(fake):
    counts = {"running": 59, "complete": 1, "queued": 4}
    fake.workflows["hello"] = fake.workflows["hello"].model_copy(update={"instances": counts})

    async def scenario(client):
        await sign_in(client)
        return await client.get("/dash/a/acme")

    page = run(fake, scenario).text
    row = re.search(
        r'<tr><th scope="row"><a href="/dash/a/acme/workflows/hello">.*?</tr>', page, re.S
    )
    assert row is not None
    cells = re.findall(r'status-(\w+)(?: zero)?">(\d+)<', row.group(0))
    assert dict(cells)["running"] == "59" and dict(cells)["complete"] == "1"
    assert '<span class="n" id="running">59</span>' in page
    assert '<span class="n" id="queued">4</span>' in page


def test_instances_are_paged_by_cursor_newest_first_without_loading_all(fake):
    async def scenario(client):
        await sign_in(client)
        first = (await client.get("/dash/a/acme/workflows/hello")).text
        cursor = re.search(r'cursor=([^"&]+)"', first).group(1)
        # An instance created after the first page was read does not shift the next page.
        await fake.create("hello", [CreateOptions(id="late")], batch=False)
        fake.set_status("hello", "late", "running", created_at=2_000_000.0)
        second = (await client.get(f"/dash/a/acme/workflows/hello?cursor={cursor}")).text
        return first, second

    first, second = run(fake, scenario)
    ids = lambda page: re.findall(r"/instances/(i-\d+|late)\"", page)  # noqa: E731
    assert ids(first) == [f"i-{n:02d}" for n in range(59, 34, -1)]
    assert ids(second) == [f"i-{n:02d}" for n in range(34, 9, -1)]


def test_instances_filter_by_status_and_find_an_id(fake):
    fake.set_status("hello", "i-07", "errored")

    async def scenario(client):
        await sign_in(client)
        errored = (await client.get("/dash/a/acme/workflows/hello?status=errored")).text
        found = (await client.get("/dash/a/acme/workflows/hello?search=i-42")).text
        missing = (await client.get("/dash/a/acme/workflows/hello?search=nope")).text
        bad = await client.get("/dash/a/acme/workflows/hello?status=sleepy")
        return errored, found, missing, bad

    errored, found, missing, bad = run(fake, scenario)
    assert re.findall(r"/instances/(i-\d+)\"", errored) == ["i-07"]
    assert re.findall(r"/instances/(i-\d+)\"", found) == ["i-42"]
    assert "No instances" in missing
    assert bad.status_code == 400 and "validation.invalid" in bad.text


def test_an_action_without_the_session_csrf_token_is_refused(fake):
    async def scenario(client):
        await sign_in(client)
        url = "/dash/a/acme/workflows/hello/instances/i-01/control"
        forged = await client.post(url, data={"action": "terminate", "csrf": "guess"})
        other_site = await client.post(
            url,
            data={"action": "terminate", "csrf": csrf_of((await client.get("/dash/a/acme")).text)},
            headers={"Origin": "https://evil.example"},
        )
        return forged, other_site

    forged, other_site = run(fake, scenario)
    assert forged.status_code == 403 and "dash.csrf_rejected" in forged.text
    assert other_site.status_code == 403
    assert fake.instances[("hello", "i-01")].status == InstanceStatus.RUNNING


def test_pause_and_send_event_act_on_the_instance_then_show_it(fake):
    async def scenario(client):
        await sign_in(client)
        base = "/dash/a/acme/workflows/hello/instances/i-01"
        csrf = csrf_of((await client.get(base)).text)
        paused = await client.post(base + "/control", data={"action": "pause", "csrf": csrf})
        sent = await client.post(
            base + "/event", data={"type": "approved", "payload": '{"by": "ops"}', "csrf": csrf}
        )
        bad_json = await client.post(
            base + "/event", data={"type": "x", "payload": "{", "csrf": csrf}
        )
        shown = await client.get(paused.headers["location"])
        return paused, sent, bad_json, shown

    paused, sent, bad_json, shown = run(fake, scenario)
    assert paused.status_code == sent.status_code == 303
    assert fake.instances[("hello", "i-01")].status == InstanceStatus.PAUSED
    assert fake.events == [("hello", "i-01", "approved", {"by": "ops"})]
    assert bad_json.status_code == 400 and "not JSON" in bad_json.text
    assert "Pause requested." in shown.text and 'id="status">paused<' in shown.text


def test_terminate_with_the_roll_back_box_checked_asks_for_a_rollback(fake):
    async def scenario(client):
        await sign_in(client)
        base = "/dash/a/acme/workflows/hello/instances/i-01"
        page = (await client.get(base)).text
        data = {"action": "terminate", "rollback": "true", "csrf": csrf_of(page)}
        return page, await client.post(base + "/control", data=data)

    page, terminated = run(fake, scenario)
    assert 'name="rollback"' in page
    assert terminated.status_code == 303
    assert fake.rolled_back is True
    assert fake.instances[("hello", "i-01")].status == InstanceStatus.TERMINATED


def test_pages_forbid_inline_script_and_framing(fake):
    async def scenario(client):
        return await client.get("/dash/signin")

    headers = run(fake, scenario).headers
    assert "script-src 'self'" in headers["content-security-policy"]
    assert headers["x-frame-options"] == "DENY"


def test_instance_page_draws_the_version_graph(fake):
    info = fake.instances[("hello", "i-01")]
    fake.instances[("hello", "i-01")] = info.model_copy(update={"version_id": "v1"})
    fake.versions["hello"] = [
        VersionInfo(
            id="v1",
            workflow="hello",
            class_name="Hello",
            created_on=time.time(),
            modified_on=time.time(),
            has_dag=True,
            graph=GRAPH,
        )
    ]
    fake.steps[("hello", "i-01")] = [
        StepInfo(type="step", name="create account", start=1, end=2, finished=True, success=True)
    ]

    async def scenario(client):
        await sign_in(client)
        return (await client.get("/dash/a/acme/workflows/hello/instances/i-01/live")).text

    live = run(fake, scenario)
    assert 'id="diagram"' in live
    assert re.search(
        r'state-done" data-state="done">\s*<span class="box-label">'
        r'<span class="box-kind">step</span> create account',
        live,
    )


def _ids(page: str) -> list[str]:
    return re.findall(r"/instances/([\w-]+)\"", page)


def test_instances_order_oldest_first_and_a_date_range(fake):
    day = 86_400.0
    for n in range(60):  # i-00..i-29 on 2026-01-01, i-30..i-59 on 2026-01-02 (UTC)
        created = 1_767_225_600.0 + (day if n >= 30 else 0.0) + n
        fake.set_status("hello", f"i-{n:02d}", "running", created_at=created)

    async def scenario(client):
        await sign_in(client)
        base = "/dash/a/acme/workflows/hello"
        oldest = (await client.get(base + "?order=oldest")).text
        second_day = (await client.get(base + "?since=2026-01-02&until=2026-01-02")).text
        bad_date = await client.get(base + "?since=yesterday")
        bad_cursor = await client.get(base + "?cursor=bm9wZQ")
        return oldest, second_day, bad_date, bad_cursor

    oldest, second_day, bad_date, bad_cursor = run(fake, scenario)
    assert _ids(oldest) == [f"i-{n:02d}" for n in range(25)]
    assert "order=oldest&amp;cursor=" in oldest
    assert _ids(second_day) == [f"i-{n:02d}" for n in range(59, 34, -1)]
    assert "30 instances" in second_day
    assert bad_date.status_code == 400 and "YYYY-MM-DD" in bad_date.text
    assert bad_cursor.status_code == 400 and "cursor is invalid" in bad_cursor.text


def test_the_rows_fragment_is_the_same_page_without_the_layout(fake):
    async def scenario(client):
        await sign_in(client)
        page = (await client.get("/dash/a/acme/workflows/hello?status=running")).text
        rows_url = re.search(r'data-live-url="([^"]+)"', page).group(1)
        rows = (await client.get(rows_url.replace("&amp;", "&"))).text
        return page, rows

    page, rows = run(fake, scenario)
    assert rows.lstrip().startswith('<table class="grid" id="instances">')
    assert _ids(rows) == _ids(page) and len(_ids(rows)) == 25


def test_a_workflow_of_ten_thousand_instances_renders_one_page_quickly():
    from pyflow_actors.models import InstanceStatusInfo

    engine = FakeTransport(("big",))
    for n in range(10_000):
        engine.instances[("big", f"b-{n:05d}")] = InstanceStatusInfo(
            id=f"b-{n:05d}", workflow="big", status=InstanceStatus.COMPLETE, created_at=float(n)
        )

    async def scenario(client):
        await sign_in(client)
        began = time.monotonic()
        page = await client.get("/dash/a/acme/workflows/big")
        return page, time.monotonic() - began

    page, took = run(engine, scenario)
    assert len(_ids(page.text)) == 25 and "10000 instances" in page.text
    assert len(page.content) < 40_000
    assert took < 2.0


def test_pyflow_dev_prints_the_dashboard_url(tmp_path, capsys):
    import socket

    from pyflow_actors.cli import dev
    from pyflow_actors.config import EngineConfig, TokenSpec

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        dev._banner(
            EngineConfig(storage=tmp_path), sock, (TokenSpec(TOKEN, ("acme",)),), generated=False
        )
    said = capsys.readouterr().out
    assert f"dashboard: http://127.0.0.1:{port}/dash" in said


def test_the_instances_view_draws_the_newest_version(fake):
    now = time.time()
    fake.versions["hello"] = [
        VersionInfo(
            id="v1",
            workflow="hello",
            class_name="Hello",
            created_on=now,
            modified_on=now,
            has_dag=False,
            graph=None,
        ),
        VersionInfo(
            id="v2",
            workflow="hello",
            class_name="Hello",
            created_on=now + 1,
            modified_on=now + 1,
            has_dag=True,
            graph=GRAPH,
        ),
    ]

    async def scenario(client):
        await sign_in(client)
        return (await client.get("/dash/a/acme/workflows/hello")).text

    page = run(fake, scenario)
    assert 'id="workflow-diagram"' in page
    assert "create account" in page and "data-state" not in page


def test_an_instance_page_streams_its_subscribe_events_only_when_signed_in(fake):
    fake.set_status("hello", "i-01", "complete", started_at=1.0, ended_at=2.0, output="ok")
    url = "/dash/a/acme/workflows/hello/instances/i-01/events"

    async def scenario(client):
        anonymous = await client.get(url)
        await sign_in(client)
        page = (await client.get("/dash/a/acme/workflows/hello/instances/i-01")).text
        streamed = await client.get(url)
        return anonymous, page, streamed

    anonymous, page, streamed = run(fake, scenario)
    assert anonymous.status_code == 303 and "event:" not in anonymous.text
    assert f'data-events-url="{url}"' in page and "workflow_completed" in page
    assert streamed.headers["content-type"].startswith("text/event-stream")
    assert "event: workflow_completed" in streamed.text
