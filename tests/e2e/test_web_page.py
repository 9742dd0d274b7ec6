"""The web app's Draft page in headless Chromium (Debian's chromium + chromium-driver),
against a real `serve` on the real SmolLM2: add a source on the Sources page, ask for a
draft, see the page working before the first token, watch it stream, read it rendered
with its count, model and sources, and rate it with a labelled button."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

import pytest

from bot.config import load_config
from bot.twin import Twin
from model.hf import HfGenerator
from tests.e2e.web_support import (
    console_errors,
    find,
    find_all,
    go,
    screenshot,
    settled_drafts,
    wait,
)
from tests.http_server import ThreadedServer
from tests.serve_support import Running, running_serve

pytestmark = pytest.mark.slow

# Records, from the first change on, whether the page showed "working" before any draft
# text, and how often the streaming draft changed before it settled.
WATCH = """
window.sawWorking = false; window.draftChanges = 0;
new MutationObserver(() => {
  const live = document.querySelector('[data-testid="draft"]:not([data-draft-id])');
  const settled = document.querySelector('[data-testid="draft"][data-draft-id]');
  const working = document.querySelector('[data-testid="working"]');
  if (working && !live && !settled) window.sawWorking = true;
  if (live) window.draftChanges++;
}).observe(document.querySelector('[data-testid="log"]'),
           {subtree: true, childList: true, characterData: true});
"""


def draft_text(srv: Running, draft_id: str) -> str:
    """The draft's text as the server keeps it."""
    request = urllib.request.Request(
        f"{srv.base}/api/drafts/{draft_id}", headers={"Authorization": f"Bearer {srv.token}"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return str(json.load(response)["output"])


def test_add_a_source_draft_watch_it_stream_and_rate_it(
    browser: Any, smol: HfGenerator, threaded_server: ThreadedServer
) -> None:
    page = threaded_server.fixture_page("lemire.me.json.html")
    with running_serve(smol, {"drafting.max_new_tokens": "48"}) as srv:
        browser.get(srv.page)
        wait(browser, lambda _: "#token" not in browser.current_url)  # it leaves the address bar
        wait(browser, lambda _: find_all(browser, "first-run"))  # nothing ingested: what to do
        go(browser, "#/sources")
        find(browser, "source-url").send_keys(page)
        find(browser, "add-source").click()
        row = wait(
            browser,
            lambda _: [
                r for r in find_all(browser, "source") if r.get_attribute("data-url") == page
            ],
        )[0]
        assert "1 document" in row.text and "ok" in row.text

        go(browser, "#/draft")
        wait(browser, lambda _: not find_all(browser, "first-run"))  # it has writing now
        browser.execute_script(WATCH)
        find(browser, "prompt").send_keys("What did that post say about parsing JSON?")
        find(browser, "send").click()
        [draft] = wait(browser, lambda _: settled_drafts(browser))
        assert browser.execute_script("return window.sawWorking") is True
        assert browser.execute_script("return window.draftChanges") >= 3  # it streamed
        assert not find_all(browser, "working")

        count = find(draft, "char-count").text
        # The count is of the text as kept and posted (a paragraph break is two characters,
        # where the rendered page shows one line break): GET /api/drafts/{id}.
        kept = draft_text(srv, draft.get_attribute("data-draft-id"))
        assert count.startswith(f"{len(kept)} characters"), (count, kept)
        assert "SmolLM2-135M-Instruct" in find(draft, "draft-meta").text  # the model, named
        [link] = [
            a
            for a in find_all(draft, "sources-material")[0].find_elements("css selector", "a")
            if a.get_attribute("href") == page
        ]
        assert link.get_attribute("rel") == "noopener noreferrer"

        for action in ("up", "down", "regenerate", "edit"):  # text and an accessible name
            button = find(draft, f"feedback-{action}")
            assert button.text.strip() and button.get_attribute("aria-label")
        find(draft, "feedback-up").click()
        wait(browser, lambda _: find(draft, "feedback-up").get_attribute("aria-pressed") == "true")
        wait(browser, lambda _: "Noted (good)" in find(draft, "feedback-status").text)
        draft_id = draft.get_attribute("data-draft-id")
        screenshot(browser, "draft")
        assert console_errors(browser) == []

    twin = Twin(load_config())
    try:
        [feedback] = twin.drafts.feedback_for(draft_id)
        assert feedback.rating == 1 and feedback.user == "web:owner"
        stored = twin.drafts.get(draft_id)
        assert stored is not None and page in [s.url for s in stored.sources]
    finally:
        twin.close()


def test_without_a_token_or_with_a_wrong_one_the_page_says_how_to_get_in(
    browser: Any, smol: HfGenerator
) -> None:
    with running_serve(smol) as srv:
        browser.get(f"{srv.base}/")
        wait(browser, lambda _: find(browser, "login").is_displayed())
        login = find(browser, "login")
        assert "llm-twin serve" in login.text and "llm-twin web-token" in login.text
        screenshot(browser, "sign-in")

        browser.get(f"{srv.base}/#token=wrong")
        wait(browser, lambda _: "missing or wrong token" in find(browser, "login").text)
        assert find(browser, "login").is_displayed()
        assert console_errors(browser) == []
