"""The Sources page in Chromium against a real `serve`: add a link, upload a real X
archive (the export fixtures' layout) and see whose writing it is, refuse a zip that is
not an export and a file over web.max_upload_mb with the server's reason, recrawl one and
all, and remove one only after a confirmation, the list following without a reload."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from model.hf import HfGenerator
from tests.e2e.web_support import (
    console_errors,
    css,
    find,
    find_all,
    go,
    screenshot,
    wait,
)
from tests.fixtures.exports import write_zip, x_members
from tests.http_server import ThreadedServer
from tests.serve_support import running_serve

pytestmark = pytest.mark.slow


def rows(browser: Any) -> dict[str, Any]:
    return {str(r.get_attribute("data-url")): r for r in find_all(browser, "source")}


def newest(browser: Any) -> Any:
    """The activity entry on show (earlier ones fold away under it)."""
    entries = find_all(browser, "activity-entry", find(browser, "activity"))
    return entries[0] if entries else None


def finished(browser: Any, label: str) -> tuple[str, str]:
    """Waits for the newest activity entry, about `label`, to be over: (state, text)."""

    def over(_: Any) -> tuple[str, str] | None:
        entry = newest(browser)
        if entry is None or not entry.text.startswith(label):
            return None
        state = entry.get_attribute("data-state")
        return None if state == "running" else (str(state), str(entry.text))

    return wait(browser, over, 180)


def test_add_upload_recrawl_and_remove_with_a_confirmation(
    browser: Any, smol: HfGenerator, threaded_server: ThreadedServer, tmp_path: Path
) -> None:
    page = threaded_server.fixture_page("lemire.me.json.html")
    archive = write_zip(tmp_path / "twitter-2024-01-01.zip", x_members())
    holiday = write_zip(tmp_path / "holiday.zip", {"beach.txt": "sun", "notes/day1.txt": "sea"})
    huge = tmp_path / "huge.zip"
    huge.write_bytes(b"\0" * (2 * 1024 * 1024))
    overrides = {"owner.names": "Ann Lee, annlee", "web.max_upload_mb": "1"}
    with running_serve(smol, overrides) as srv:
        browser.get(srv.page)
        go(browser, "#/sources")
        assert "Nothing collected yet" in find(browser, "no-sources").text

        find(browser, "source-url").send_keys(page)
        find(browser, "add-source").click()
        state, said = finished(browser, f"Adding {page}")
        assert state == "done" and "1 new" in said, said
        row = wait(browser, lambda _: rows(browser).get(page))
        assert "JSON parsing: simdjson vs. JSON for Modern C++" in find(row, "source-title").text
        facts = row.text
        assert "web" in facts and "1 document" in facts and "someone else's writing" in facts
        assert find(row, "source-status").text == "ok" and "last crawl" in facts

        find(browser, "source-file").send_keys(str(archive))
        find(browser, "upload").click()
        state, said = finished(browser, "Uploading twitter-2024-01-01.zip")
        assert state == "done" and "3 new documents" in said, said
        wait(browser, lambda _: len(rows(browser)) == 2)
        [export] = [r for url, r in rows(browser).items() if url != page]
        assert "your writing" in export.text and "X" in export.text.split()

        # Refused before anything is kept: the server's reason, shown; the list as it was.
        for refused, reason in ((holiday, "export"), (huge, "web.max_upload_mb")):
            find(browser, "source-file").send_keys(str(refused))
            find(browser, "upload").click()
            state, said = finished(browser, f"Uploading {refused.name}")
            assert state == "failed" and reason in said, said
            assert len(rows(browser)) == 2

        find(rows(browser)[page], "recrawl").click()
        assert finished(browser, "Recrawling JSON parsing")[0] == "done"
        find(browser, "recrawl-all").click()
        assert finished(browser, "Recrawling every source")[0] == "done"
        screenshot(browser, "sources")

        # × asks first: Cancel keeps it; Remove removes it and the list follows at once.
        find(rows(browser)[page], "remove").click()
        dialog = find(browser, "confirm")
        assert "1 document" in dialog.text and "JSON parsing" in dialog.text
        screenshot(browser, "sources-confirm")
        find(browser, "confirm-cancel").click()
        wait(browser, lambda _: not css(browser, "dialog[open]"))
        assert page in rows(browser) and not newest(browser).text.startswith("Removing")

        find(rows(browser)[page], "remove").click()
        find(browser, "confirm-ok").click()
        assert finished(browser, "Removing JSON parsing")[0] == "done"
        wait(browser, lambda _: page not in rows(browser))
        assert len(rows(browser)) == 1
        assert console_errors(browser) == []
