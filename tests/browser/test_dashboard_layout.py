"""The dashboard's pages in headless Chromium without Ray (the in-memory engine of
``fake_engine.py``): 10,000 instances paged, phone width, keyboard, both themes.

Screenshots go to tests/browser/artifacts/ like the other browser tests'.
"""

from __future__ import annotations

from typing import Any

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from tests.browser.conftest import (
    ACCOUNT,
    DESKTOP,
    LAYOUT_SHIFT,
    TOKEN,
    full_page_screenshot,
    screenshot,
    sign_in,
    text_of,
)
from tests.browser.fake_engine import BIG, SHOWN_ID
from tests.conftest import wait_for

PHONE = (375, 812)
TIMING = """
const nav = performance.getEntriesByType("navigation")[0];
return {loaded: nav.domComplete, nodes: document.getElementsByTagName("*").length,
        rows: document.querySelectorAll("#instances tbody tr").length};
"""
# What has the keyboard focus, and whether it shows (an outline, or a box shadow).
FOCUSED = """
const el = document.activeElement, style = getComputedStyle(el);
const shown = (style.outlineStyle !== "none" && parseFloat(style.outlineWidth) > 0)
  || style.boxShadow !== "none";
return {tag: el.tagName, text: (el.innerText || el.value || "").trim().slice(0, 40),
        id: el.closest("[id]") ? el.closest("[id]").id : "", shown: shown};
"""


@pytest.fixture
def on_fake(browser: Any, fake_dash_url: str) -> Any:
    """The browser, signed in on the in-memory gateway (the same token as the other)."""
    browser.get(f"{fake_dash_url}/dash/a/{ACCOUNT}")
    if "/dash/signin" in browser.current_url:
        sign_in(browser, fake_dash_url, TOKEN)
        wait_for(lambda: browser.current_url.endswith(f"/dash/a/{ACCOUNT}"), timeout=30)
    return browser


def test_ten_thousand_instances_load_one_page_at_a_time_quickly(on_fake, fake_dash_url):
    on_fake.get(f"{fake_dash_url}/dash/a/{ACCOUNT}/workflows/big")
    first = _timing_once_rows_shown(on_fake)
    assert f"{BIG} instances" in text_of(on_fake, ".pager")
    screenshot(on_fake, "instances-10k")
    ids = [a.text for a in on_fake.find_elements(By.CSS_SELECTOR, "#instances tbody a")]
    # By keyboard: the next page is a link.
    on_fake.find_element(By.ID, "next-page").send_keys(Keys.ENTER)
    wait_for(lambda: "page 2" in text_of(on_fake, ".pager"), timeout=30)
    second = _timing_once_rows_shown(on_fake)
    later = [a.text for a in on_fake.find_elements(By.CSS_SELECTOR, "#instances tbody a")]
    for shown in (first, second):
        assert shown["rows"] == 25
        assert shown["nodes"] < 400  # one page of rows, never the workflow's 10,000
        assert shown["loaded"] < 3000  # milliseconds, on a loaded 2-core machine
    assert ids[0] == f"b-{BIG - 1:05d}" and later[0] == f"b-{BIG - 26:05d}"


def _timing_once_rows_shown(browser: Any) -> dict[str, Any]:
    """The page's timing and size, read once its rows are in (a live refresh can be
    swapping them at the moment the pager already says the new page)."""
    shown: dict[str, Any] = wait_for(
        lambda: (t := browser.execute_script(TIMING))["rows"] > 0 and t, timeout=30
    )
    return shown


@pytest.mark.parametrize("view", ["workflows", "instances", "instance"])
def test_each_view_fits_a_phone_width_without_scrolling_sideways(on_fake, fake_dash_url, view):
    urls = {
        "workflows": f"/dash/a/{ACCOUNT}",
        "instances": f"/dash/a/{ACCOUNT}/workflows/big",
        "instance": f"/dash/a/{ACCOUNT}/workflows/hello/instances/{SHOWN_ID}",
    }
    on_fake.set_window_size(*PHONE)
    try:
        on_fake.get(fake_dash_url + urls[view])
        # The layout's width (the window less a scrollbar), not innerWidth (with it).
        width = on_fake.execute_script("return document.documentElement.clientWidth")
        overflow = on_fake.execute_script(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        # Nothing is cut: headings and step names wrap inside the window.
        cut = on_fake.execute_script(
            "const w = document.documentElement.clientWidth;"
            "return [...document.querySelectorAll('h1, .step-head strong, .facts div, pre, .card')]"
            ".filter((e) => e.getBoundingClientRect().right > w + 1).length"
        )
        full_page_screenshot(on_fake, f"{view}-phone")
    finally:
        on_fake.set_window_size(*DESKTOP)
    assert width <= PHONE[0] and overflow <= 0 and cut == 0


def test_the_keyboard_reaches_every_action_in_order_with_a_visible_focus(on_fake, fake_dash_url):
    on_fake.get(f"{fake_dash_url}/dash/a/{ACCOUNT}/workflows/hello/instances/{SHOWN_ID}")
    body = on_fake.find_element(By.TAG_NAME, "body")
    body.send_keys(Keys.TAB)
    stops = [on_fake.execute_script(FOCUSED)]
    while len(stops) < 40 and stops[-1]["id"] != "action-event":
        on_fake.switch_to.active_element.send_keys(Keys.TAB)
        stops.append(on_fake.execute_script(FOCUSED))
    assert stops[0]["text"] == "Skip to content"
    actions = [s["id"] for s in stops if s["tag"] == "SUMMARY"]
    assert actions == [
        "action-pause",
        "action-resume",
        "action-terminate",
        "action-restart",
        "action-event",
    ]
    hidden = [s for s in stops if not s["shown"]]
    assert hidden == [], f"focus not visible on {hidden}"
    # The skip link leads past the header, to the content.
    on_fake.get(on_fake.current_url)
    on_fake.find_element(By.TAG_NAME, "body").send_keys(Keys.TAB)
    on_fake.switch_to.active_element.send_keys(Keys.ENTER)
    assert on_fake.execute_script("return document.activeElement.id") == "main"


def test_the_instance_view_has_a_dark_theme_with_the_diagram_marked(on_fake, fake_dash_url):
    on_fake.get(f"{fake_dash_url}/dash/a/{ACCOUNT}/workflows/hello/instances/{SHOWN_ID}")
    done = on_fake.execute_script(  # read at once: the live refresh may swap the diagram
        "return [...document.querySelectorAll('#diagram [data-state=\"done\"]')]"
        ".map((box) => box.innerText)"
    )
    assert any("create account" in text for text in done)
    light = on_fake.execute_script("return getComputedStyle(document.body).backgroundColor")
    full_page_screenshot(on_fake, "instance-steps")  # retries, parallel lanes, a wait
    on_fake.execute_cdp_cmd(
        "Emulation.setEmulatedMedia",
        {"features": [{"name": "prefers-color-scheme", "value": "dark"}]},
    )
    try:
        dark = on_fake.execute_script("return getComputedStyle(document.body).backgroundColor")
        full_page_screenshot(on_fake, "instance-dark")
    finally:
        on_fake.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": []})
    assert light != dark


def test_live_swaps_of_a_waiting_instance_move_nothing(on_fake, fake_dash_url):
    # The waiting step's duration grows every second, so its live part is swapped.
    on_fake.get(f"{fake_dash_url}/dash/a/{ACCOUNT}/workflows/hello/instances/{SHOWN_ID}")
    digest = 'return document.querySelector("#live").dataset.digest'
    first = on_fake.execute_script(digest)
    wait_for(lambda: on_fake.execute_script(digest) != first, timeout=30)
    second = on_fake.execute_script(digest)
    wait_for(lambda: on_fake.execute_script(digest) != second, timeout=30)
    assert on_fake.execute_async_script(LAYOUT_SHIFT) < 0.01
