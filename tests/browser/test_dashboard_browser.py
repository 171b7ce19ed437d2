"""The dashboard in a real headless Chromium: sign in, list, open an instance, act on it.

Each view is saved as a screenshot under tests/browser/artifacts/. The
instance used is a ``ledger`` workflow that runs a step, then waits for an
``approve`` event, then runs two more steps: the page must show it waiting,
paused, resumed, and (after the event is sent from the page) advance to
complete without a reload.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from tests.browser.conftest import ACCOUNT, DESKTOP, TOKEN, full_page_screenshot, screenshot
from tests.conftest import wait_for

pytestmark = pytest.mark.ray


def text_of(browser: Any, selector: str) -> str:
    """The text of the first element matching ``selector`` now ("" if none; the live
    refresh may replace it while it is read)."""
    try:
        found = browser.find_elements(By.CSS_SELECTOR, selector)
        return found[0].text if found else ""
    except StaleElementReferenceException:
        return ""


def sign_in(browser: Any, dash_url: str, token: str) -> None:
    browser.get(f"{dash_url}/dash/signin")
    field = browser.find_element(By.ID, "token")
    field.send_keys(token + Keys.ENTER)  # the keyboard, not a click


@pytest.fixture
def signed_in(browser: Any, dash_url: str) -> Any:
    if browser.get_cookie("pyflow_dash") is None:
        sign_in(browser, dash_url, TOKEN)
        wait_for(lambda: browser.current_url.endswith(f"/dash/a/{ACCOUNT}"), timeout=30)
    return browser


@pytest.fixture
def waiting_instance(engine, tmp_path) -> str:
    """A ledger instance that has run its first step and waits for 'approve'."""
    instance_id = f"dash-{uuid.uuid4().hex[:10]}"
    params = {
        "ledger": str(tmp_path / "ledger.txt"),
        "steps": 3,
        "step_seconds": 0.1,
        "wait_for": "approve",
        "timeout": 600,
    }
    instance = engine.client.workflow("ledger").create(id=instance_id, params=params)
    wait_for(lambda: instance.status().status.value == "waiting", timeout=60)
    return instance_id


def instance_url(dash_url: str, instance_id: str) -> str:
    return f"{dash_url}/dash/a/{ACCOUNT}/workflows/ledger/instances/{instance_id}"


LAYOUT_SHIFT = """
const done = arguments[arguments.length - 1];
let total = 0;
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) if (!entry.hadRecentInput) total += entry.value;
}).observe({type: "layout-shift", buffered: true});
setTimeout(() => done(total), 300);
"""


def confirm_by_keyboard(browser: Any, action: str) -> None:
    """Open an action's confirmation with Enter and confirm it with Enter."""
    summary = browser.find_element(By.CSS_SELECTOR, f"#action-{action} summary")
    summary.send_keys(Keys.ENTER)
    button = browser.find_element(By.CSS_SELECTOR, f"#action-{action} button.confirm")
    wait_for(button.is_displayed, timeout=10)
    button.send_keys(Keys.ENTER)


def test_a_wrong_token_gets_the_sign_in_page_and_no_data(browser, dash_url):
    browser.delete_all_cookies()
    browser.get(f"{dash_url}/dash/a/{ACCOUNT}")
    assert browser.current_url.endswith("/dash/signin")
    sign_in(browser, dash_url, "not-the-" + TOKEN)
    wait_for(lambda: "not valid" in text_of(browser, "#refused"), timeout=30)
    assert browser.get_cookie("pyflow_dash") is None
    assert "ledger" not in browser.page_source
    screenshot(browser, "signin-refused")


def test_instances_view_finds_an_instance_and_opens_it(signed_in, dash_url, waiting_instance):
    signed_in.get(f"{dash_url}/dash/a/{ACCOUNT}/workflows/ledger")
    search = signed_in.find_element(By.ID, "search")
    search.send_keys(waiting_instance + Keys.ENTER)
    wait_for(lambda: waiting_instance in text_of(signed_in, "#instances tbody"), timeout=30)
    screenshot(signed_in, "instances")
    signed_in.find_element(By.LINK_TEXT, waiting_instance).click()
    wait_for(lambda: text_of(signed_in, "#status") == "waiting", timeout=30)
    assert "step-0" in text_of(signed_in, "#timeline")


def test_instances_view_shows_new_instances_without_a_reload(signed_in, dash_url, engine):
    signed_in.get(f"{dash_url}/dash/a/{ACCOUNT}/workflows/echo")
    signed_in.execute_script("document.body.dataset.loadedOnce = 'yes'")
    fresh = f"fresh-{uuid.uuid4().hex[:8]}"
    engine.client.workflow("echo").create(id=fresh, params={"x": 1})
    wait_for(lambda: fresh in text_of(signed_in, "#instances tbody"), timeout=30)
    assert signed_in.execute_script("return document.body.dataset.loadedOnce") == "yes"


def test_pause_resume_and_send_event_from_the_instance_page(signed_in, dash_url, waiting_instance):
    signed_in.get(instance_url(dash_url, waiting_instance))
    wait_for(lambda: text_of(signed_in, "#status") == "waiting", timeout=30)

    confirm_by_keyboard(signed_in, "pause")
    wait_for(lambda: text_of(signed_in, "#status") == "paused", timeout=60)
    assert text_of(signed_in, "#done") == "Pause requested."

    confirm_by_keyboard(signed_in, "resume")
    wait_for(lambda: text_of(signed_in, "#status") == "waiting", timeout=60)

    signed_in.find_element(By.CSS_SELECTOR, "#action-event summary").send_keys(Keys.ENTER)
    event_type = signed_in.find_element(By.ID, "event-type")
    event_type.clear()
    event_type.send_keys("approve")
    signed_in.find_element(By.ID, "event-payload").send_keys('{"add": 1}')
    signed_in.find_element(By.CSS_SELECTOR, "#action-event button.confirm").click()
    wait_for(lambda: text_of(signed_in, "#done") == "Event sent.", timeout=30)

    # The page was not reloaded after this: the live refresh shows the rest of the run.
    wait_for(lambda: text_of(signed_in, "#status") == "complete", timeout=60)
    wait_for(lambda: "step-2" in text_of(signed_in, "#timeline"), timeout=30)
    # The output comes with the final status, which may land a moment after the step.
    wait_for(lambda: text_of(signed_in, "#output") == "4", timeout=30)  # 0 + 1 + 2, + 1
    # The page listened to the instance's subscribe stream (which ends after its terminal event).
    fetched = signed_in.execute_script(
        "return performance.getEntriesByType('resource').map((e) => e.name)"
    )
    assert any(name.endswith(f"/instances/{waiting_instance}/events") for name in fetched)
    # The live refresh swapped status, steps and diagram without moving the page around.
    assert signed_in.execute_async_script(LAYOUT_SHIFT) < 0.05
    screenshot(signed_in, "instance")
    full_page_screenshot(signed_in, "instance-full")

    diagram = signed_in.find_element(By.ID, "diagram")
    done = diagram.find_elements(By.CSS_SELECTOR, '[data-state="done"]')
    assert any("step-{i}" in box.text for box in done)
    assert any("wait" in box.text for box in done)
    diagram.screenshot(str(screenshot(signed_in, "diagram-page").with_name("diagram.png")))


def test_instance_page_fits_a_phone_width(signed_in, dash_url, waiting_instance):
    signed_in.set_window_size(390, 844)
    try:
        signed_in.get(instance_url(dash_url, waiting_instance))
        wait_for(lambda: text_of(signed_in, "#status") == "waiting", timeout=30)
        overflow = signed_in.execute_script(
            "return document.documentElement.scrollWidth - window.innerWidth"
        )
        screenshot(signed_in, "instance-phone")
    finally:
        signed_in.set_window_size(*DESKTOP)
    assert overflow <= 0


def test_workflows_view_counts_instances_by_status_in_both_themes(signed_in, dash_url):
    # Last, so that the instances the tests above made show in the counts and the chart.
    signed_in.get(f"{dash_url}/dash/a/{ACCOUNT}")
    names = [a.text for a in signed_in.find_elements(By.CSS_SELECTOR, "#workflows th a")]
    assert "ledger" in names and "waiter" in names
    complete = signed_in.find_element(
        By.XPATH,
        "//table[@id='workflows']//tr[th/a='ledger']/td[contains(@class,'status-complete')]",
    )
    assert int(complete.text) >= 1
    assert signed_in.find_element(By.ID, "runs-chart").is_displayed()
    # The keyboard's first stop is the skip link, and it leads to the content.
    signed_in.find_element(By.TAG_NAME, "body").send_keys(Keys.TAB)
    assert signed_in.switch_to.active_element.text == "Skip to content"
    screenshot(signed_in, "workflows")
    light = signed_in.execute_script("return getComputedStyle(document.body).backgroundColor")
    signed_in.execute_cdp_cmd(
        "Emulation.setEmulatedMedia",
        {"features": [{"name": "prefers-color-scheme", "value": "dark"}]},
    )
    try:
        dark = signed_in.execute_script("return getComputedStyle(document.body).backgroundColor")
        screenshot(signed_in, "workflows-dark")
    finally:
        signed_in.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": []})
    assert light != dark
