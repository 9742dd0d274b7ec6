"""The History page in Chromium against a real `serve`: every draft from the database,
newest first, 20 to a page, filtered by format, rating and text; the page and its
filters survive a reload; a draft opens whole with its edits, copies, and regenerates
on the Draft page."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from selenium.webdriver.support.ui import Select

from bot.config import load_config
from bot.twin import Twin
from model.hf import HfGenerator
from model.records import DraftRecord
from tests.e2e.web_support import (
    console_errors,
    find,
    find_all,
    go,
    screenshot,
    settled_drafts,
    wait,
)
from tests.serve_support import running_serve

pytestmark = pytest.mark.slow

FORMATS = ("linkedin", "thread", "article", "answer")
TOPICS = ("queues", "caching", "kubernetes", "code review", "testing", "hiring")


def seed_history() -> None:
    """24 earlier drafts: formats in turn, every third rated good, every fifth bad, one edited."""
    twin = Twin(load_config())
    try:
        start = datetime.now(UTC) - timedelta(days=30)
        for n in range(24):
            record = DraftRecord(
                prompt=f"Draft {n}: a post about {TOPICS[n % len(TOPICS)]}",
                format=FORMATS[n % len(FORMATS)],
                output=f"Post {n} about **{TOPICS[n % len(TOPICS)]}**.\n\nSecond paragraph.",
                finish_reason="stop",
                backend="hf",
                model_id="HuggingFaceTB/SmolLM2-360M-Instruct",
                model_version="base",
                created_at=start + timedelta(hours=n),
            )
            twin.drafts.save(record)
            if n % 3 == 0:
                twin.drafts.add_feedback(record.id, user="web:owner", rating=1)
            elif n % 5 == 0:
                twin.drafts.add_feedback(record.id, user="web:owner", rating=-1)
            if n == 7:
                twin.drafts.add_feedback(record.id, user="web:owner", edited_text="Mine, shorter.")
    finally:
        twin.close()


def titles(browser: Any) -> list[str]:
    return [
        e.find_element("css selector", ".title").text for e in find_all(browser, "history-item")
    ]


def page_info(browser: Any) -> str:
    found = find_all(browser, "page-info")
    return str(found[0].text) if found else ""


def test_history_pages_filters_survives_reloads_opens_copies_and_regenerates(
    browser: Any, smol: HfGenerator
) -> None:
    seed_history()
    with running_serve(smol) as srv:
        browser.get(srv.page)
        prompt = "Write about parsing JSON quickly"
        find(browser, "prompt").send_keys(prompt)
        find(browser, "send").click()
        [made] = wait(browser, lambda _: settled_drafts(browser), 120)
        made_id = made.get_attribute("data-draft-id")

        find(browser, "nav-history").click()
        wait(browser, lambda _: page_info(browser) == "1–20 of 25")
        assert titles(browser)[0] == prompt  # newest first, the page's own draft included
        assert titles(browser)[1] == "Draft 23: a post about hiring"
        edited = next(e for e in find_all(browser, "history-item") if "Draft 7:" in e.text)
        assert "1 edit" in edited.text and "SmolLM2-360M-Instruct" in edited.text
        screenshot(browser, "history")

        find(browser, "page-next").click()
        wait(browser, lambda _: page_info(browser) == "21–25 of 25")
        browser.refresh()  # the page, from the address
        wait(browser, lambda _: page_info(browser) == "21–25 of 25")
        assert titles(browser)[-1] == "Draft 0: a post about queues"

        Select(find(browser, "history-format")).select_by_value("thread")
        wait(browser, lambda _: page_info(browser) == "1–6 of 6")
        assert all("X thread" in e.text for e in find_all(browser, "history-item"))
        Select(find(browser, "history-rating")).select_by_value("up")
        wait(browser, lambda _: page_info(browser) == "1–2 of 2")  # 9 and 21
        browser.refresh()
        wait(browser, lambda _: page_info(browser) == "1–2 of 2")
        assert Select(find(browser, "history-format")).first_selected_option.text == "X thread"
        assert all("rated good" in e.text for e in find_all(browser, "history-item"))
        Select(find(browser, "history-format")).select_by_value("")
        Select(find(browser, "history-rating")).select_by_value("")
        find(browser, "history-q").send_keys("kubernetes")
        find(browser, "history-filter").click()
        wait(browser, lambda _: page_info(browser) == "1–4 of 4")
        find(browser, "history-q").clear()
        find(browser, "history-q").send_keys("matches nothing at all")
        find(browser, "history-filter").click()
        wait(browser, lambda _: "No draft matches" in find(browser, "history-list").text)

        go(browser, f"#/history/{made_id}")
        detail = find(browser, "history-detail")
        wait(browser, lambda _: find(browser, "detail-prompt").text == prompt)
        [whole] = find_all(browser, "draft", detail)
        assert whole.get_attribute("data-draft-id") == made_id
        find(whole, "copy").click()
        wait(browser, lambda _: find(whole, "copy").get_attribute("data-copied") == "true")
        screenshot(browser, "history-draft")

        go(browser, "#/history/no-such-draft")
        wait(browser, lambda _: "no such draft" in find(browser, "detail-error").text)

        go(browser, f"#/history/{made_id}")
        wait(
            browser,
            lambda _: find_all(browser, "feedback-regenerate", find(browser, "history-detail")),
        )
        find(find(browser, "history-detail"), "feedback-regenerate").click()
        wait(browser, lambda _: browser.current_url.endswith("#/draft"))
        wait(browser, lambda _: len(settled_drafts(browser)) == 2, 120)
        assert len(find_all(browser, "page-draft")) == 1  # one Draft page, however reached
        before, again = settled_drafts(browser)
        assert before.get_attribute("data-draft-id") == made_id  # the conversation, restored
        assert again.get_attribute("data-draft-id") != made_id
        assert console_errors(browser) == []

    twin = Twin(load_config())
    try:
        assert [d.prompt for d in twin.drafts.recent(50)].count(prompt) == 2
    finally:
        twin.close()
