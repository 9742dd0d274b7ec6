"""Headless Chromium for the web page tests (Debian's chromium + chromium-driver, as CI
installs them with .ci/chromium.sh)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from typing import Any

import pytest

CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking")


@pytest.fixture
def browser() -> Iterator[Any]:
    chromium, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    if chromium is None or driver_path is None:
        reason = "needs Debian's chromium and chromium-driver (bash .ci/chromium.sh)"
        if os.environ.get("TWIN_REQUIRE_CHROMIUM") == "1":
            pytest.fail(f"Chromium is required (TWIN_REQUIRE_CHROMIUM=1): {reason}")
        pytest.skip(reason)
    from selenium import webdriver

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument("--window-size=1400,900")
    # The page's console, to fail a test on a script error or a CSP violation.
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(driver_path))
    try:
        yield driver
    finally:
        driver.quit()
