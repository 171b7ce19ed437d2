"""The chaos soak says which calls were refused (benchmarks/chaos/workload.py
``call_kind``): the 1,000-kill soak of seed 2029 counted six ``404
instance.not_found`` answers without saying to which calls, so nobody could
tell an expected read-back of a create that never took effect from a lost
instance's status."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from benchmarks.chaos import workload
from benchmarks.chaos.workload import Rest, call_kind


@pytest.mark.parametrize(
    ("method", "path", "kind"),
    [
        ("POST", "/chaos/instances", "create"),
        ("POST", "/chaos/instances/batch", "create_batch"),
        ("POST", "/chaos/instances/c7/events/item", "send_event"),
        ("PATCH", "/chaos/instances/c7/status", "control"),
        ("GET", "/chaos/instances/c7/status", "read_status"),
        ("GET", "/chaos/instances/c7", "read"),
        ("GET", "/chaos-shared/instances?per_page=100&page=2", "list"),
    ],
)
def test_each_rest_call_of_the_soak_has_its_kind(method: str, path: str, kind: str):
    assert call_kind(method, path) == kind


def test_a_404_is_counted_by_call_and_its_path_kept(monkeypatch: pytest.MonkeyPatch):
    def answer(method: str, url: str, **_: Any) -> httpx.Response:
        body = {"success": False, "errors": [{"code": 10406, "message": "no such instance"}]}
        return httpx.Response(404, json=body, request=httpx.Request(method, url))

    monkeypatch.setattr(workload.httpx, "request", answer)
    rest = Rest("token")
    rest.url = "http://gateway"
    assert rest.call("GET", "/chaos/instances/c9").outcome == "refused"
    rest.call("POST", "/chaos/instances/c9/events/item", 1)
    assert rest.answers == {"404 10406": 2}
    assert rest.by_call == {"read 404 10406": 1, "send_event 404 10406": 1}
    assert rest.not_found == [
        "read /chaos/instances/c9",
        "send_event /chaos/instances/c9/events/item",
    ]
