"""The Settings and Schedules pages in Chromium against a real `serve`, and the phone
layout: a save that the config loader refuses shows its message next to the field and
saves nothing (not even the good fields beside it); a good one is written to
$TWIN_HOME/settings.toml and shown as "saved here" after a reload; values set on the
command line are shown locked; the owner's style profile is shown; jobs are paused,
resumed and run from Schedules; on a 390-px screen the navigation folds into a menu."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from bot.config import load_config
from bot.twin import Twin
from model.hf import HfGenerator
from tests.chat_support import SAMPLE, SHORT_DRAFTS
from tests.e2e.web_support import (
    console_errors,
    css,
    find,
    find_all,
    go,
    screenshot,
    wait,
)
from tests.serve_support import running_serve

pytestmark = pytest.mark.slow


async def ingest_sample() -> None:
    twin = Twin(load_config(SHORT_DRAFTS))
    try:
        async with twin.ingestor() as ingestor:
            [result] = await ingestor.ingest([str(SAMPLE)], allow_paths=True)
        assert result.ok, result.error
    finally:
        await twin.aclose()


def field(browser: Any, key: str) -> Any:
    return find(browser, f"setting-{key}")


def set_value(browser: Any, key: str, text: str) -> None:
    box = field(browser, key)
    box.clear()
    box.send_keys(text)


def saved_status(browser: Any) -> str:
    return str(find(browser, "settings-status").text)


async def test_settings_refused_or_saved_whole_style_schedules_and_the_phone_menu(
    browser: Any, smol: HfGenerator, twin_home: Path
) -> None:
    await ingest_sample()
    saved = twin_home / "settings.toml"
    with running_serve(smol, {"owner.names": "Sam Rivera"}) as srv:
        browser.get(srv.page)
        go(browser, "#/settings")
        wait(browser, lambda _: field(browser, "owner.bio").is_displayed())
        name = field(browser, "owner.name")  # --set on the command line: it wins, so locked
        assert not name.is_enabled() and name.get_attribute("value") == "Sam Rivera"
        assert "command line" in find(browser, "from-owner.name").text
        assert (
            "config.toml" in find(browser, "from-owner.bio").text
            or "default" in find(browser, "from-owner.bio").text
        )
        assert find_all(browser, "model-picker")  # models on this machine, to pick from

        # One refused value: its message by its field, and the good one beside it not saved.
        set_value(browser, "owner.bio", "I write about evals and small models.")
        set_value(browser, "drafting.linkedin_max_chars", "5000")
        find(browser, "save-settings").click()
        error = wait(browser, lambda _: find(browser, "error-drafting.linkedin_max_chars"))
        wait(browser, lambda _: error.is_displayed())
        assert "200..3000" in error.text
        assert field(browser, "drafting.linkedin_max_chars").get_attribute("aria-invalid") == "true"
        assert saved_status(browser).startswith("Nothing was saved")
        assert not saved.exists()
        screenshot(browser, "settings-refused")

        set_value(browser, "drafting.linkedin_max_chars", "many")  # the wrong type
        find(browser, "save-settings").click()
        wait(browser, lambda _: "must be an integer" in error.text)

        set_value(browser, "drafting.linkedin_max_chars", "1200")
        set_value(browser, "owner.voice_notes", "short sentences\nno hashtags")
        find(browser, "save-settings").click()
        wait(browser, lambda _: saved_status(browser).startswith("Saved"))
        assert not find(browser, "error-drafting.linkedin_max_chars").is_displayed()
        assert tomllib.loads(saved.read_text()) == {
            "owner": {
                "bio": "I write about evals and small models.",
                "voice_notes": ["short sentences", "no hashtags"],
            },
            "drafting": {"linkedin_max_chars": 1200},
        }

        browser.refresh()
        wait(browser, lambda _: field(browser, "owner.bio").is_displayed())
        assert field(browser, "owner.bio").get_attribute("value") == (
            "I write about evals and small models."
        )
        assert "saved here" in find(browser, "from-drafting.linkedin_max_chars").text
        find(browser, "save-settings").click()
        wait(browser, lambda _: saved_status(browser) == "Nothing changed.")

        style = find(browser, "style-profile")
        wait(browser, lambda _: find_all(browser, "style-basis", style))
        assert "Measured from" in style.text and "What drafts are told" in style.text
        screenshot(browser, "settings")

        go(browser, "#/schedules")
        job = wait(browser, lambda _: find_all(browser, "schedule"))[0]
        name_ = job.get_attribute("data-name")
        assert "next run" in find(job, "next-run").text
        find(job, "pause").click()
        wait(browser, lambda _: f"Paused {name_}" in find(browser, "schedules-status").text)
        job = wait(
            browser,
            lambda _: [
                j
                for j in find_all(browser, "schedule")
                if j.get_attribute("data-name") == name_ and find_all(browser, "paused", j)
            ],
        )[0]
        assert "paused" in find(job, "next-run").text
        screenshot(browser, "schedules")
        find(job, "resume").click()
        wait(browser, lambda _: f"Resumed {name_}" in find(browser, "schedules-status").text)
        job = next(
            j for j in find_all(browser, "schedule") if j.get_attribute("data-name") == name_
        )
        find(job, "run-now").click()
        wait(
            browser,
            lambda _: (
                name_ in find(browser, "schedules-status").text
                and "Running" not in find(browser, "schedules-status").text
            ),
            120,
        )

        # A phone: the navigation folds into a menu, which opens, leads and closes.
        browser.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {"width": 390, "height": 844, "deviceScaleFactor": 1, "mobile": True},
        )
        toggle = find(browser, "nav-toggle")
        wait(
            browser,
            lambda _: toggle.is_displayed() and not find(browser, "nav-history").is_displayed(),
        )
        toggle.click()
        wait(browser, lambda _: find(browser, "nav-history").is_displayed())
        assert toggle.get_attribute("aria-expanded") == "true"
        find(browser, "nav-history").click()
        wait(browser, lambda _: find(browser, "page-history").is_displayed())
        assert not find(browser, "nav-history").is_displayed()
        assert toggle.get_attribute("aria-expanded") == "false"
        assert not css(browser, "nav.open")
        browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
        assert console_errors(browser) == []
