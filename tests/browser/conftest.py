"""A real headless Chromium (Debian's, driven by Selenium) on the dashboard.

One gateway and one browser per session: the gateway serves the session's
shared engine (tests/conftest.py) on a free port, and the browser is signed
in once by the first test that needs it. Chromium is never downloaded: the
tests use ``chromium`` and ``chromedriver`` from the system (``make test``
installs Debian's packages when it can) and skip, saying so, when they are
missing. Screenshots of each view go to ``tests/browser/artifacts/``.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from pyflow_actors.client.api import AsyncClient
from pyflow_actors.config import EngineConfig, TokenSpec
from tests.api.conftest import ServerThread
from tests.conftest import wait_for

TOKEN, ACCOUNT = "browser-test-token", "acme"
ARTIFACTS = Path(__file__).parent / "artifacts"
DESKTOP = (1280, 800)


def _chromium() -> tuple[str, str]:
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if binary is None or driver is None:
        # Only where Debian's Chromium cannot be installed (make test installs it as
        # root, as CI runs); the dashboard's views are also covered by
        # tests/unit/test_dashboard.py without a browser.
        pytest.skip(
            "Chromium is not installed and could not be: the browser tests need Debian's "
            "'chromium' and 'chromium-driver' (make test installs them when run as root)"
        )
    return binary, driver


@pytest.fixture(scope="session")
def dash_url(engine) -> Iterator[str]:
    """The gateway's root URL, serving the dashboard at /dash."""
    from service import create_app

    client = asyncio.run(engine.async_client())
    server = ServerThread(
        create_app(client, engine.config, tokens=(TokenSpec(TOKEN, (ACCOUNT,)),))
    ).start()
    yield server.url
    server.stop()


@pytest.fixture(scope="session")
def fake_dash_url(engine_storage: Path) -> Iterator[str]:
    """A second gateway, on an in-memory engine (no Ray) holding a workflow of
    10,000 instances and one instance with steps and a diagram; it shares the
    engine's storage folder, hence its dashboard secret: a session signed in on
    either gateway is valid on both."""
    from service import create_app
    from tests.browser.fake_engine import fake_engine

    server = ServerThread(
        create_app(
            AsyncClient(fake_engine()),
            EngineConfig(storage=engine_storage),
            tokens=(TokenSpec(TOKEN, (ACCOUNT,)),),
        )
    ).start()
    yield server.url
    server.stop()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """One headless Chromium for the session, at 1280x800."""
    binary, driver_path = _chromium()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        f"--window-size={DESKTOP[0]},{DESKTOP[1]}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    driver.set_page_load_timeout(60)
    ARTIFACTS.mkdir(exist_ok=True)
    yield driver
    driver.quit()


def full_page_screenshot(browser: Any, name: str) -> Path:
    """Save the whole page (beyond the window) as ``artifacts/<name>.png``."""
    import base64

    size = browser.execute_script(
        # The capture lays the page out without a scrollbar: as wide as the window.
        "return [Math.max(document.documentElement.scrollWidth, window.innerWidth),"
        " document.documentElement.scrollHeight]"
    )
    shot = browser.execute_cdp_cmd(
        "Page.captureScreenshot",
        {
            "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": size[0], "height": size[1], "scale": 1},
        },
    )
    path = ARTIFACTS / f"{name}.png"
    path.write_bytes(base64.b64decode(shot["data"]))
    return path


def screenshot(browser: Any, name: str) -> Path:
    """Save the visible page as ``artifacts/<name>.png``."""
    path = ARTIFACTS / f"{name}.png"
    browser.save_screenshot(str(path))
    return path


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
