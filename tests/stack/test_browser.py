"""The demo page in headless Chromium (Debian's chromium + chromium-driver, via Selenium).

Skips only where Chromium is not installed, never under CI=true (``make test``
installs it). Selenium is pointed at the system driver and browser, so nothing
downloads a browser of its own.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.stack.conftest import ROOT, Stack
from tests.support import skip_unless_ci

pytestmark = pytest.mark.integration

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
OUTPUT = ROOT / "test-output"


@pytest.fixture
def browser(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        skip_unless_ci(
            "chromium/chromium-driver not installed (make test installs them)",
            "chromium and chromium-driver are required",
        )
    monkeypatch.setenv("SE_OFFLINE", "true")  # Selenium Manager must never fetch a driver
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


def test_the_ranking_has_hearts_from_one_request_and_favorites_from_its_rows(
    stack: Stack, browser: Any
):
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from tests.stack.conftest import post, wait_for

    restaurant = "pho-house"
    # Enough fans to be in every window's top 10, whatever else the session ranked.
    for fan in range(30):
        post(
            f"{stack.api}/graphql",
            f'mutation {{ favorite(restaurantId: "{restaurant}") {{ changed }} }}',
            user=f"pho-fan-{fan}",
        )
    counted = f'{{ restaurants(ids: ["{restaurant}"]) {{ favoriteCount }} }}'
    wait_for(
        lambda: (
            post(f"{stack.api}/public/graphql", counted)["data"]["restaurants"][0]["favoriteCount"]
            >= 30
        ),
        what="the fans' favorites to be counted",
    )
    browser.get(f"{stack.web}/")
    wait = WebDriverWait(
        browser, 30, poll_frequency=0.2, ignored_exceptions=[StaleElementReferenceException]
    )

    def ranked(window: str) -> tuple[int, str]:
        """The row's count and heart button text; (0, "") while it is not listed."""
        rows = browser.find_elements(By.ID, f"{window}-{restaurant}")
        if not rows:
            return 0, ""
        cells = rows[0].find_elements(By.TAG_NAME, "td")
        return int(cells[2].text), cells[3].text

    wait.until(lambda d: ranked("ALL_TIME")[1])
    before, heart = ranked("ALL_TIME")
    assert before >= 30
    assert "☆ Favorite" in heart
    # Hearts the page switches in place, on buttons already drawn: only the mutation's
    # payload does that (a refresh draws new buttons instead).
    browser.execute_script(
        """
        const id = arguments[0];
        window.switchedOn = [];
        new MutationObserver(records => records.forEach(r => {
          if (r.target.dataset.restaurant === id && r.target.classList.contains("on"))
            window.switchedOn.push(r.target.id);
        })).observe(document.body, {subtree: true, attributes: true, attributeFilter: ["class"]});
        """,
        restaurant,
    )
    # Favorite from the ranked row itself.
    browser.find_element(By.ID, f"heart-ALL_TIME-{restaurant}").click()
    # The payload's restaurant turns on every heart of it on the screen (the ranked
    # row and the list) without waiting for a refresh; the count follows the stream.
    switched = {f"heart-ALL_TIME-{restaurant}", f"toggle-{restaurant}"}
    wait.until(lambda d: switched <= set(d.execute_script("return window.switchedOn")))
    wait.until(lambda d: "Unfavorite" in ranked("ALL_TIME")[1])
    wait.until(lambda d: ranked("ALL_TIME")[0] == before + 1)
    for window in ("MONTH", "DAY"):

        def hearted(_: Any, window: str = window) -> bool:
            return "Unfavorite" in ranked(window)[1]

        wait.until(hearted)
    toggle = browser.find_element(By.ID, f"toggle-{restaurant}")
    assert "Unfavorite" in toggle.text
    assert browser.find_element(By.ID, "error").text == ""

    # The whole screen is one request per refresh, to the signed-in route only.
    script = """
      const calls = performance.getEntriesByType("resource")
        .filter(e => e.name.includes("/graphql"));
      return [Number(document.getElementById("updated").dataset.refreshes),
              calls.length, calls.filter(e => e.name.includes("/public/")).length];
    """
    start, requests_before, _ = browser.execute_script(script)
    wait_for(lambda: browser.execute_script(script)[0] >= start + 3, timeout=30, what="refreshes")
    end, requests_after, public = browser.execute_script(script)
    # A refresh whose response has arrived but is not drawn yet may add one.
    assert end - start <= requests_after - requests_before <= end - start + 1
    assert public == 0

    # And back, from the ranked row of another window.
    browser.find_element(By.ID, f"heart-DAY-{restaurant}").click()
    wait.until(lambda d: "☆ Favorite" in ranked("ALL_TIME")[1])
    wait.until(lambda d: ranked("ALL_TIME")[0] == before)
