"""A small harness for the browser tests: Debian's chromium, driven headless by selenium.

The app runs on a loopback port in a thread (werkzeug's threaded server, as
``sms-gateway serve`` does) and chromium talks to it like any phone or TV would.
Without chromium or its chromedriver the tests are skipped with the reason,
unless ``SMS_GATEWAY_REQUIRE_BROWSER=1``, where they fail.
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from flask import Flask
from werkzeug.serving import make_server

from tests.skips import skip_or_fail

if TYPE_CHECKING:  # selenium is a dev dependency, imported only when a browser runs
    from selenium.webdriver.remote.webdriver import WebDriver

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
REQUIRE_ENV = "SMS_GATEWAY_REQUIRE_BROWSER"
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"

PHONE_SIZE = (412, 915)  # a common cheap Android phone, in CSS pixels
TV_SIZE = (1280, 720)


def browser_available() -> str | None:
    """Return None when chromium and chromedriver are installed, else the reason to skip."""
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not os.access(path, os.X_OK)]
    if missing:
        return (
            f"chromium is not installed (missing {', '.join(missing)}); "
            "install it with: apt-get install chromium chromium-driver"
        )
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed; install the dev extra: pip install -e '.[dev]'"
    return None


def require_browser() -> None:
    """Skip the calling test without a browser; fail instead when SMS_GATEWAY_REQUIRE_BROWSER=1."""
    skip_or_fail(browser_available(), REQUIRE_ENV)


@contextmanager
def serving(app: Flask) -> Iterator[str]:
    """Serve ``app`` on a free loopback port in a thread; yield its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        server.shutdown()
        thread.join()
        server.server_close()


@contextmanager
def chromium(size: tuple[int, int] = PHONE_SIZE) -> Iterator[WebDriver]:
    """Start headless chromium through the system chromedriver; quit it afterwards."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    with tempfile.TemporaryDirectory(prefix="sms-gateway-chromium-") as profile:
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for arg in (
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--force-device-scale-factor=1",
            # Date inputs follow the page's lang ("id": 19/11/2026) instead of the browser's
            # locale, which is en-US here (Debian's chromium ships only en-US without
            # chromium-l10n, so neither --lang, LANG/LANGUAGE nor intl.accept_languages
            # changes how a date input is drawn).
            "--enable-blink-features=LangAttributeAwareFormControlUI",
            f"--window-size={size[0]},{size[1]}",
            f"--user-data-dir={profile}",
        ):
            options.add_argument(arg)
        # The explicit driver path keeps Selenium Manager from looking for one online.
        driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
        try:
            driver.set_page_load_timeout(30)
            set_viewport(driver, size)
            yield driver
        finally:
            driver.quit()


def set_viewport(driver: WebDriver, size: tuple[int, int]) -> None:
    """Make the page's viewport exactly ``size`` CSS pixels (the window has no chrome to count)."""
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": size[0], "height": size[1], "deviceScaleFactor": 1, "mobile": False},
    )


def screenshot(driver: WebDriver, path: Path, *, full_page: bool = False) -> Path:
    """Save a PNG of what the browser shows (the whole page when ``full_page``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if full_page:
        width = driver.execute_script("return document.documentElement.clientWidth")
        height = driver.execute_script("return document.documentElement.scrollHeight")
        set_viewport(driver, (width, height))
    if not driver.save_screenshot(str(path)):
        raise RuntimeError(f"could not save a screenshot to {path}")
    return path


def artifact(name: str) -> Path:
    """Return where a test keeps its screenshot: ``test-artifacts/<name>`` (gitignored)."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS / name
