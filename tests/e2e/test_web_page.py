"""The local web page in headless Chromium (Debian's chromium + chromium-driver): add a
source, ask for a draft, watch it stream, press 👍, against a real `serve`."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from typing import Any

import pytest

from bot.config import load_config
from bot.twin import Twin
from model.hf import HfGenerator
from tests.http_server import ThreadedServer
from tests.serve_support import running_serve

pytestmark = pytest.mark.slow

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
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(driver_path))
    try:
        yield driver
    finally:
        driver.quit()


def test_add_a_source_draft_watch_it_stream_and_rate_it(
    browser: Any, smol: HfGenerator, threaded_server: ThreadedServer
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    page = threaded_server.fixture_page("lemire.me.json.html")
    wait = WebDriverWait(browser, 60)
    with running_serve(smol, {"drafting.max_new_tokens": "48"}) as srv:
        browser.get(srv.page)
        assert "#token" not in browser.current_url  # the token leaves the address bar

        def testid(name: str) -> Any:
            return browser.find_element(By.CSS_SELECTOR, f'[data-testid="{name}"]')

        testid("source-url").send_keys(page)
        testid("add-source").click()
        wait.until(lambda _: "1 docs, ok" in testid("sources").text)
        assert page in testid("sources").text

        # Count how often the draft bubble changes before it is final: streaming, not
        # one answer at the end.
        browser.execute_script(
            """
            window.draftChanges = 0;
            new MutationObserver(() => {
              const d = document.querySelector('[data-testid="draft"]');
              if (d && !d.dataset.draftId) window.draftChanges++;
            }).observe(document.getElementById('log'),
                       {subtree: true, childList: true, characterData: true});
            """
        )
        testid("prompt").send_keys("What did that post say about parsing JSON?")
        testid("send").click()
        draft = wait.until(
            lambda _: browser.find_element(By.CSS_SELECTOR, '[data-testid="draft"][data-draft-id]')
        )
        assert browser.execute_script("return window.draftChanges") >= 3
        assert "Sources:" in draft.text and page in draft.text
        draft_id = draft.get_attribute("data-draft-id")

        draft.find_element(By.CSS_SELECTOR, '[data-testid="feedback-up"]').click()
        wait.until(lambda _: "Noted 👍" in testid("log").text)

    twin = Twin(load_config())
    try:
        [feedback] = twin.drafts.feedback_for(draft_id)
        assert feedback.rating == 1 and feedback.user == "web:owner"
        stored = twin.drafts.get(draft_id)
        assert stored is not None and page in [s.url for s in stored.sources]
    finally:
        twin.close()


def test_a_wrong_token_is_told_what_to_do(browser: Any, smol: HfGenerator) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    with running_serve(smol) as srv:
        browser.get(f"{srv.base}/#token=wrong")
        log = browser.find_element(By.CSS_SELECTOR, '[data-testid="log"]')
        WebDriverWait(browser, 30).until(lambda _: "Wrong or missing token" in log.text)
