"""The dashboard in a real headless Chromium: sign in, list, open an instance, act on it.

Each view is saved as a screenshot under tests/browser/artifacts/. The
instance used is a ``ledger`` workflow that runs a step, then waits for an
``approve`` event, then runs two more steps: the page must show it waiting,
paused, resumed, and (after the event is sent from the page) advance to
complete without a reload.
"""

from __future__ import annotations

import uuid

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.select import Select

from tests.browser.conftest import (
    ACCOUNT,
    LAYOUT_SHIFT,
    TOKEN,
    confirm_by_keyboard,
    full_page_screenshot,
    instance_url,
    screenshot,
    sign_in,
    text_of,
)
from tests.conftest import wait_for

pytestmark = pytest.mark.ray


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


STATUS_OUTPUT_STEPS = """
const text = (id) => { const e = document.getElementById(id); return e ? e.innerText.trim() : ""; };
return [text("status"), text("output"), text("timeline")];
"""


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
    # Status, output and steps arrive in one swap: read together, the first time the
    # page says complete it also shows the output and the last step.
    def shown_when_complete() -> list[str] | None:
        now = signed_in.execute_script(STATUS_OUTPUT_STEPS)
        return now if now[0] == "complete" else None

    status, output, steps = wait_for(shown_when_complete, timeout=60)
    assert output == "4" and "step-2" in steps  # 0 + 1 + 2, + the event's 1
    # The page listened to the instance's subscribe stream (the script closes it once the
    # instance is final, maybe before the stream's own end: no resource timing entry then).
    region = signed_in.find_element(By.ID, "live-region")
    assert region.get_attribute("data-stream-opened") == "true"
    assert region.get_attribute("data-events-url").endswith(f"/instances/{waiting_instance}/events")
    # The live refresh swapped status, steps and diagram without moving the page around.
    assert signed_in.execute_async_script(LAYOUT_SHIFT) < 0.05
    screenshot(signed_in, "instance")
    full_page_screenshot(signed_in, "instance-full")

    diagram = signed_in.find_element(By.ID, "diagram")
    done = diagram.find_elements(By.CSS_SELECTOR, '[data-state="done"]')
    assert any("step-{i}" in box.text for box in done)
    assert any("wait" in box.text for box in done)
    diagram.screenshot(str(screenshot(signed_in, "diagram-page").with_name("diagram.png")))


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
    screenshot(signed_in, "workflows")
    # The keyboard's first stop is the skip link, and it leads to the content.
    signed_in.find_element(By.TAG_NAME, "body").send_keys(Keys.TAB)
    assert signed_in.switch_to.active_element.text == "Skip to content"
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


def test_restart_from_the_second_step_keeps_the_first_and_runs_again_to_complete(
    signed_in, dash_url, engine, tmp_path
):
    ledger = tmp_path / "ledger.txt"
    instance_id = f"again-{uuid.uuid4().hex[:10]}"
    params = {"ledger": str(ledger), "steps": 3, "step_seconds": 0.05}
    instance = engine.client.workflow("ledger").create(id=instance_id, params=params)
    wait_for(lambda: instance.status().status.value == "complete", timeout=60)
    signed_in.get(instance_url(dash_url, instance_id))
    wait_for(lambda: text_of(signed_in, "#status") == "complete", timeout=30)
    first_step = '#timeline [data-step="step-0"] .step-head .muted'
    first_started = text_of(signed_in, first_step)

    # By keyboard: open the restart, pick the second step, confirm.
    signed_in.find_element(By.CSS_SELECTOR, "#action-restart summary").send_keys(Keys.ENTER)
    choice = Select(signed_in.find_element(By.ID, "restart-from"))
    labels = [option.text for option in choice.options]
    assert labels[1:] == ["do step-0", "do step-1", "do step-2"]
    choice.select_by_visible_text("do step-1")
    screenshot(signed_in, "instance-restart")
    signed_in.find_element(By.CSS_SELECTOR, "#action-restart button.confirm").send_keys(Keys.ENTER)
    wait_for(lambda: text_of(signed_in, "#done") == "Restarted from step step-1.", timeout=30)

    ran = [f"{instance_id} step-{i}" for i in (0, 1, 2, 1, 2)]  # step-0 ran once
    wait_for(lambda: ledger.read_text().split() == " ".join(ran).split(), timeout=60)
    wait_for(lambda: text_of(signed_in, "#status") == "complete", timeout=60)
    wait_for(lambda: text_of(signed_in, "#output") == "3", timeout=30)
    assert text_of(signed_in, first_step) == first_started  # the kept step, as it was


def test_a_session_is_valid_on_another_gateway_of_the_same_storage(signed_in, fake_dash_url):
    # fake_dash_url is a second gateway process's app on the engine's storage folder: it
    # opens the cookie the first one sealed (as a restarted gateway does), no sign-in.
    signed_in.get(f"{fake_dash_url}/dash/a/{ACCOUNT}")
    assert signed_in.current_url == f"{fake_dash_url}/dash/a/{ACCOUNT}"
    assert "big" in [a.text for a in signed_in.find_elements(By.CSS_SELECTOR, "#workflows th a")]
