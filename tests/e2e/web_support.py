"""Helpers for the web page tests: find by data-testid, wait, screenshots at the two
sizes the page promises (1400x900 and a 390-px-wide phone), and the page's console."""

from __future__ import annotations

import base64
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")
WIDE, PHONE = (1400, 900), (390, 844)


def find(browser: Any, name: str, seconds: float = 15) -> Any:
    """The element with data-testid `name`; on the page, waiting for it (pages load their
    module on first visit), inside an element, at once."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.remote.webdriver import WebDriver

    selector = f'[data-testid="{name}"]'
    if not isinstance(browser, WebDriver):
        return browser.find_element(By.CSS_SELECTOR, selector)
    return wait(browser, lambda _: next(iter(css(browser, selector)), None), seconds)


def find_all(browser: Any, name: str, within: Any = None) -> list[Any]:
    from selenium.webdriver.common.by import By

    found: list[Any] = (within or browser).find_elements(By.CSS_SELECTOR, f'[data-testid="{name}"]')
    return found


def settled_drafts(browser: Any) -> list[Any]:
    """The Draft page's drafts that have finished (they carry their id)."""
    return css(browser, '[data-testid="log"] [data-testid="draft"][data-draft-id]')


def css(browser: Any, selector: str) -> list[Any]:
    from selenium.webdriver.common.by import By

    found: list[Any] = browser.find_elements(By.CSS_SELECTOR, selector)
    return found


def wait(browser: Any, until: Callable[[Any], T | None], seconds: float = 60) -> T:
    """`until`'s first truthy answer, polled every 0.1 s (an element the page replaced
    meanwhile counts as not yet)."""
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    ignored = (NoSuchElementException, StaleElementReferenceException)
    found = WebDriverWait(browser, seconds, 0.1, ignored).until(until)
    assert found is not None and found is not False  # until() returns only a truthy answer
    return found


def go(browser: Any, route: str) -> None:
    """Follow a route in the open page, as a click on the navigation bar does."""
    browser.execute_script("location.hash = arguments[0]", route)


def visible_text(browser: Any, name: str) -> str:
    """The element's text, or '' while it is not there."""
    found = find_all(browser, name)
    return str(found[0].text) if found else ""


def screenshots_dir() -> Path:
    folder = Path(
        os.environ.get("TWIN_SCREENSHOTS") or Path(tempfile.gettempdir()) / "twin-screens"
    )
    folder.mkdir(parents=True, exist_ok=True)
    return folder


# Screenshots the README shows, refreshed whenever the browser tests run.
DOCS = Path(__file__).resolve().parents[2] / "docs"
README_SHOTS = {("draft-edited", 1400): DOCS / "web-app.png"}

NEXT_FRAMES = "const done = arguments[0]; requestAnimationFrame(() => requestAnimationFrame(done));"


def screenshot(browser: Any, name: str) -> list[Path]:
    """`name` at 1400x900 and on a 390-px-wide phone screen; returns the files. The page
    must not scroll sideways at either size."""
    saved = []
    for width, height in (WIDE, PHONE):
        # Headless Chromium keeps windows at least 500 px wide: emulate the phone's screen.
        browser.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 500},
        )
        browser.execute_script("window.scrollTo(0, 0)")
        browser.execute_async_script(NEXT_FRAMES)  # what redraws on resize has redrawn
        inner = browser.execute_script("return window.innerWidth")
        assert inner == width, f"the screen is {inner} px wide, not {width}"
        overflow = browser.execute_script("return document.documentElement.scrollWidth")
        assert overflow <= inner, f"{name} scrolls sideways at {width} px ({overflow} > {inner})"
        path = screenshots_dir() / f"{re.sub(r'[^a-z0-9-]+', '-', name.lower())}-{width}.png"
        browser.save_screenshot(str(path))  # what the screen shows
        if (name, width) in README_SHOTS:  # the README's picture of the page, kept current
            shutil.copyfile(path, README_SHOTS[name, width])
        saved.append(path)
        saved.append(_whole_page(browser, path.with_name(f"{path.stem}-full.png")))
    browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    return saved


def _whole_page(browser: Any, path: Path) -> Path:
    """The whole page, scrolled parts too (Chromium's own capture, not a stitched one)."""
    size = browser.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
    clip = {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}
    shot = browser.execute_cdp_cmd(
        "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True, "clip": clip}
    )
    path.write_bytes(base64.b64decode(shot["data"]))
    return path


def console_errors(browser: Any) -> list[str]:
    """Script errors and CSP violations the page logged (answers with an error status are
    the API's to report, and the page shows them)."""
    return [
        entry["message"]
        for entry in browser.get_log("browser")
        if entry["level"] == "SEVERE" and "Failed to load resource" not in entry["message"]
    ]
