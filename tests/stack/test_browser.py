"""The demo page in headless Chromium (Debian's chromium + chromium-driver, via Selenium).

Skips only where Chromium is not installed, never under CI=true (``make test``
installs it). Selenium is pointed at the system driver and browser, so nothing
downloads a browser of its own.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.stack.conftest import ROOT, Stack

pytestmark = pytest.mark.integration

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
OUTPUT = ROOT / "test-output"


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        if os.environ.get("CI") == "true":
            pytest.fail("chromium and chromium-driver are required under CI=true")
        pytest.skip("chromium/chromium-driver not installed (make test installs them)")
    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager must never fetch a driver
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1200,800",
        f"--user-data-dir={tmp_path / 'profile'}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    yield driver
    driver.quit()


def test_favorite_in_the_browser_raises_the_count(stack: Stack, browser: Any):
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    restaurant = "curry-club"
    browser.get(f"{stack.web}/")
    # The page re-renders its tables on every refresh: an element read between a
    # find and its text can go stale, and the next poll simply looks again.
    wait = WebDriverWait(
        browser, 20, poll_frequency=0.2, ignored_exceptions=[StaleElementReferenceException]
    )
    select = wait.until(lambda d: d.find_element(By.ID, "user"))
    assert select.get_attribute("value") == "demo-alice"

    def count(window: str) -> int:
        rows = browser.find_elements(By.ID, f"{window}-{restaurant}")
        return int(rows[0].find_elements(By.TAG_NAME, "td")[2].text) if rows else 0

    button = wait.until(lambda d: d.find_element(By.ID, f"toggle-{restaurant}"))
    before = count("ALL_TIME")
    assert "Favorite" in button.text
    assert "Unfavorite" not in button.text
    button.click()
    # The API answers at once; the count moves only when the stream worker has applied it.
    wait.until(lambda d: count("ALL_TIME") == before + 1)
    wait.until(lambda d: count("DAY") >= 1 and count("MONTH") >= 1)
    # The button now offers the way back.
    wait.until(lambda d: "Unfavorite" in d.find_element(By.ID, f"toggle-{restaurant}").text)
    assert browser.find_element(By.ID, "error").text == ""
    OUTPUT.mkdir(exist_ok=True)
    shot = OUTPUT / "demo-page.png"
    shot.unlink(missing_ok=True)
    assert browser.save_screenshot(str(shot))
    assert shot.stat().st_size > 10_000

    # And back: unfavorite brings the count down again (found afresh: the list may
    # have been redrawn since).
    wait.until(lambda d: d.find_element(By.ID, f"toggle-{restaurant}")).click()
    wait.until(lambda d: count("ALL_TIME") == before)
