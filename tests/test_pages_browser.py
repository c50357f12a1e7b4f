"""The public pages in a real browser: headless chromium through the system chromedriver.

One database is enough here (SQLite); ``test_pages.py`` covers both. Each test
keeps a screenshot in ``test-artifacts/``. Without chromium the tests are
skipped, unless ``SMS_GATEWAY_REQUIRE_BROWSER=1``.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from sms_gateway.app import create_app
from sms_gateway.config import load_settings
from sms_gateway.gateway import Gateway
from tests.browser import PHONE_SIZE, TV_SIZE, artifact, chromium, require_browser, screenshot
from tests.browser import serving as serving_app
from tests.conftest import Clock, write_config
from tests.scripted_day import DAY, OFFICES, panggil, ready_to_call, script_day

# The display must show a call within this long (it polls every 2.5 s).
DISPLAY_DEADLINE_S = 10


@pytest.fixture
def gateway(tmp_path: Path, sqlite_template: Path, clock: Clock) -> Iterator[Gateway]:
    require_browser()  # before any scripting: a skip should be quick
    path = tmp_path / "gateway.db"
    shutil.copy(sqlite_template, path)
    config = write_config(tmp_path, f"sqlite:///{path}", offices=OFFICES)
    gw = Gateway(load_settings(config, env={}), clock=clock)
    yield gw
    gw.close()


@pytest.fixture
def base_url(gateway: Gateway) -> Iterator[str]:
    with serving_app(create_app(gateway.settings, gateway=gateway)) as url:
        yield url


def test_the_transparency_page_shows_the_scripted_day(
    gateway: Gateway, clock: Clock, base_url: str
) -> None:
    from selenium.webdriver.common.by import By

    expected = script_day(gateway, clock)
    with chromium(PHONE_SIZE) as driver:
        driver.get(f"{base_url}/transparansi/PMK?from=2026-11-23&to=2026-12-13")
        assert driver.title == "Transparansi antrean Kantor Imigrasi Pamekasan"
        for field, value in expected.__dict__.items():
            if field == "cancelled_by_office":
                continue  # only noted on days the office cancelled bookings
            cell = driver.find_element(By.ID, f"c-{DAY}-{field}")
            assert (field, cell.text) == (field, str(value))
        row = driver.find_element(By.ID, f"hari-{DAY}")
        assert row.text.startswith("Sen 30-11")

        # Readable on a phone: nothing runs, nothing but the table scrolls sideways,
        # and the weekly charts are drawn (the 30-11 bar for "terisi" has a height).
        assert driver.execute_script("return document.scripts.length") == 0
        assert driver.execute_script(
            "return document.documentElement.scrollWidth <= document.documentElement.clientWidth"
        )
        charts = driver.find_elements(By.CSS_SELECTOR, "figure.grafik svg")
        assert len(charts) == 3
        bar = driver.find_element(By.CSS_SELECTOR, "#grafik-PMK-2026-w49 rect.terisi")
        assert bar.size["height"] > 20 and bar.size["width"] > 5
        screenshot(driver, artifact("transparansi.png"), full_page=True)


def test_the_display_shows_a_call_within_seconds(
    gateway: Gateway, clock: Clock, base_url: str
) -> None:
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    ready_to_call(gateway, clock, applicants=4)
    with chromium(TV_SIZE) as driver:
        driver.get(f"{base_url}/layar/PMK")
        assert driver.find_element(By.ID, "belum").text == "Belum ada panggilan hari ini"
        wait = WebDriverWait(
            driver,
            DISPLAY_DEADLINE_S,
            poll_frequency=0.2,
            ignored_exceptions=(NoSuchElementException, StaleElementReferenceException),
        )

        def shown_at(counter: str) -> str:
            return str(
                driver.find_element(By.CSS_SELECTOR, f"#loket-{counter} [data-role=number]").text
            )

        def showing(counter: str, number: str) -> Callable[[object], bool]:
            return lambda _driver: shown_at(counter) == number

        # The page is not reloaded: its script picks each call up by polling.
        driver.execute_script("window.notReloaded = true")
        for counter, number in (("2", "PMK-001"), ("3", "PMK-002")):
            assert number in panggil(gateway, counter)
            called = time.monotonic()
            wait.until(showing(counter, number))
            assert time.monotonic() - called < DISPLAY_DEADLINE_S
        assert driver.execute_script("return window.notReloaded") is True

        assert shown_at("2") == "PMK-001"
        recent = driver.find_elements(By.CSS_SELECTOR, "#terakhir li")
        assert [li.get_attribute("data-number") for li in recent] == ["PMK-002", "PMK-001"]
        assert driver.find_element(By.ID, "menunggu").text == "2"
        assert driver.find_element(By.ID, "jam").text == "09:00"
        # Large enough to read across a room: the numbers fill a good part of the screen.
        shown = driver.find_element(By.CSS_SELECTOR, "#loket-2 [data-role=number]")
        assert shown.size["height"] >= TV_SIZE[1] / 10
        screenshot(driver, artifact("layar.png"))
