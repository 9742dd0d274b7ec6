"""The Draft page's regressions from issue 18, in Chromium against a real `serve` on the
real SmolLM2: with "X thread" picked, commands and a bare link still reach the command
layer as typed and a prompt becomes a thread with per-post counts (everything goes to
the server's one parser, the format with it); the help table keeps its columns; Stop with nothing
running says so; a second prompt while drafting is queued, not dropped (and can be taken
back); Edit opens at the draft with Save and Cancel and the saved version shows under it;
the bundled demo model is flagged; the conversation survives a reload."""

from __future__ import annotations

import re
from typing import Any

import pytest
from selenium.webdriver.support.ui import Select

from bot.config import load_config
from bot.twin import Twin
from model.hf import HfGenerator
from model.shape import x_length
from tests.e2e.web_support import (
    console_errors,
    css,
    find,
    find_all,
    screenshot,
    settled_drafts,
    wait,
)
from tests.http_server import ThreadedServer
from tests.serve_support import running_serve

pytestmark = pytest.mark.slow


def send(browser: Any, text: str) -> None:
    prompt = find(browser, "prompt")
    prompt.send_keys(text)
    find(browser, "send").click()


def replies(browser: Any) -> list[str]:
    return [str(e.text) for e in find_all(browser, "say")]


def drafts_in_db() -> list[Any]:
    twin = Twin(load_config())
    try:
        return twin.drafts.recent(50)
    finally:
        twin.close()


def test_with_a_format_picked_commands_and_links_go_as_typed_and_prompts_get_the_format(
    browser: Any, smol: HfGenerator, threaded_server: ThreadedServer
) -> None:
    page = threaded_server.fixture_page("lemire.me.json.html")
    with running_serve(smol, {"drafting.max_new_tokens": "64"}) as srv:
        browser.get(srv.page)
        Select(find(browser, "format")).select_by_value("thread")
        commands = ["models", "schedules", "recrawl", "train status", page, "help"]
        for text in commands:  # sent at once: each waits its turn in the queue
            send(browser, text)
        wait(browser, lambda _: len(replies(browser)) >= len(commands), 120)
        kinds = [e.get_attribute("data-testid") for e in css(browser, '[data-testid="log"] > *')]
        assert kinds == ["me", "say"] * len(commands)  # each reply under its own message
        said = replies(browser)
        assert "base" in said[0] and "SmolLM2-135M" in said[0]  # models
        assert "next" in said[1].lower() or "schedules" in said[1].lower()  # schedules
        assert "1 link ingested" in said[4] or "added" in said[4].lower(), said[4]  # the link
        assert not settled_drafts(browser) and drafts_in_db() == []  # none became a draft

        # The help table keeps its columns: a monospace block, not proportional text.
        [table] = css(browser, '[data-testid="say"] pre.aligned')[-1:]
        font = browser.execute_script("return getComputedStyle(arguments[0]).fontFamily", table)
        assert "mono" in font.lower()

        send(browser, "Three lessons from parsing JSON fast")
        [draft] = wait(browser, lambda _: settled_drafts(browser), 300)
        [stored] = drafts_in_db()
        assert stored.format == "thread" and draft.get_attribute("data-draft-id") == stored.id
        posts = [p for p in re.split(r"\n[ \t]*\n", stored.output) if p.strip()]
        counts = [c.text for c in find_all(browser, "post-count", draft)]
        assert counts == [f"{x_length(p.strip())}/280" for p in posts]
        screenshot(browser, "draft-thread")
        assert console_errors(browser) == []


def test_stop_says_when_nothing_runs_and_a_second_prompt_waits_its_turn(
    browser: Any, smol: HfGenerator
) -> None:
    with running_serve(smol, {"drafting.max_new_tokens": "64"}) as srv:
        browser.get(srv.page)
        find(browser, "cancel").click()
        wait(browser, lambda _: "Nothing to stop" in find(browser, "composer-status").text)

        send(browser, "Write a long post about code review habits")
        # Once it streams, a second prompt waits its turn, visibly; a third is taken back.
        wait(browser, lambda _: css(browser, '[data-testid="draft"]:not([data-draft-id])'), 120)
        send(browser, "Write a post about small pull requests")
        wait(browser, lambda _: "Queued" in find(browser, "queued").text)
        send(browser, "A third one I change my mind about")
        wait(browser, lambda _: len(find_all(browser, "unqueue")) == 2)
        find_all(browser, "unqueue")[-1].click()
        wait(browser, lambda _: "Removed from the queue" in css(browser, ".queued")[-1].text)

        find(browser, "cancel").click()  # stops the first; the second starts on its own
        wait(browser, lambda _: "Stopping" in find(browser, "composer-status").text)
        wait(browser, lambda _: len(settled_drafts(browser)) == 2, 300)
        first, second = settled_drafts(browser)
        assert first.get_attribute("data-finish") == "cancelled"
        assert second.get_attribute("data-finish") != "cancelled"
        assert not find_all(browser, "working")
        prompts = sorted(d.prompt for d in drafts_in_db())
        assert prompts == [
            "Write a long post about code review habits",
            "Write a post about small pull requests",
        ]  # the removed one was never sent


def test_edit_opens_at_the_draft_saves_or_cancels_and_the_page_survives_a_reload(
    browser: Any, smol: HfGenerator
) -> None:
    with running_serve(smol) as srv:
        browser.get(srv.page)
        notice = find(browser, "demo-notice")  # the bundled model is a demo: say so
        assert "demo model" in notice.text
        assert notice.find_element("css selector", "a").get_attribute("href").endswith("#/settings")
        send(browser, "Write about testing with real parts")
        [draft] = wait(browser, lambda _: settled_drafts(browser), 120)
        draft_id = draft.get_attribute("data-draft-id")

        [stored] = drafts_in_db()
        find(draft, "feedback-edit").click()
        editor = find(draft, "editor")  # inside the draft's own card, not at the bottom
        area = find(editor, "edit-text")
        assert area.get_attribute("value") == stored.output  # the draft as written, to edit
        find(editor, "edit-cancel").click()
        assert not find_all(browser, "editor") and find(draft, "draft-body").is_displayed()

        find(draft, "feedback-edit").click()
        area = find(draft, "edit-text")
        area.clear()
        area.send_keys("Real parts catch real bugs. Mocks catch the bugs you imagined.")
        find(draft, "edit-save").click()
        saved = wait(browser, lambda _: find_all(draft, "saved-edit"))[0]
        assert "Mocks catch the bugs you imagined." in saved.text
        assert "Your version" in saved.text
        find(draft, "copy").click()
        wait(browser, lambda _: find(draft, "copy").get_attribute("data-copied") == "true")
        screenshot(browser, "draft-edited")

        browser.refresh()  # the conversation is still there, with the saved version
        [again] = wait(browser, lambda _: settled_drafts(browser))
        assert again.get_attribute("data-draft-id") == draft_id
        assert "Mocks catch the bugs you imagined." in find(again, "saved-edit").text
        assert "Write about testing with real parts" in find(browser, "me").text
        assert console_errors(browser) == []

    twin = Twin(load_config())
    try:
        [feedback] = twin.drafts.feedback_for(draft_id)
        assert feedback.edited_text is not None
        assert feedback.edited_text.endswith("Mocks catch the bugs you imagined.")
    finally:
        twin.close()
