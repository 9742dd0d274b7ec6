"""Digest content and the digest log, on a real warehouse (SQLite, and PostgreSQL where the
`warehouse_url` fixture has one): documents are stored through the warehouse with its
clock set, so each lands in a known period."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from bot.chat.slack.mrkdwn import to_mrkdwn
from bot.chat.telegram.markup import to_html
from bot.schedules.digest import build_digest, gather_digest, summarize
from bot.schedules.digest_log import Claim, DigestLog
from ingest.document import Document
from ingest.warehouse.migrations import MIGRATIONS_TABLE
from ingest.warehouse.schema import StoredDocument
from ingest.warehouse.store import Warehouse
from model.filters import infer_filters
from retrieval.types import SearchFilters

REPO = Path(__file__).resolve().parents[2]
MONDAY = datetime(2025, 6, 2, 9, 0, tzinfo=UTC)
WEEK = timedelta(days=7)


@pytest.fixture
def warehouse(warehouse_url: str) -> Iterator[Warehouse]:
    with Warehouse(warehouse_url) as wh:
        yield wh


class Clock:
    """The warehouse's clock, which stamps `created_at`."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.now = MONDAY
        for where in ("ingest.warehouse.transaction", "ingest.warehouse.store"):
            monkeypatch.setattr(f"{where}.now_utc", lambda: self.now)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    return Clock(monkeypatch)


def store(warehouse: Warehouse, clock: Clock, at: datetime, *docs: Document) -> None:
    clock.now = at
    with warehouse.transaction() as tx:
        for doc in docs:
            tx.upsert_document(doc)


def post(n: int, *, days_ago: int = 0, **fields: Any) -> Document:
    doc = Document(
        url=f"https://ada.example/posts/{n}",
        platform="web",
        title=f"Post {n}",
        text=f"Post {n}\n\nWhat post {n} says. More of it.",
        author="Ada",
        published_at=MONDAY + WEEK - timedelta(days=days_ago),
    )
    return replace(doc, **fields)


def code_file(n: int) -> Document:
    return Document(
        url=f"https://github.com/ada/twin/blob/main/src/mod{n}.py",
        platform="github",
        title=f"ada/twin: src/mod{n}.py",
        text=f'"""Module {n}."""\nimport os\n',
        author="ada",
        meta={"kind": "code", "path": f"src/mod{n}.py"},
    )


def stored(doc: Document, created_at: datetime = MONDAY) -> StoredDocument:
    return StoredDocument(
        id=doc.id,
        url=doc.url,
        platform=doc.platform,
        title=doc.title,
        text=doc.text,
        author=doc.author,
        published_at=doc.published_at,
        source_url=doc.source_url or doc.url,
        fetched_at=doc.fetched_at,
        content_hash=doc.content_hash,
        created_at=created_at,
        updated_at=created_at,
        owned=doc.owned,
        meta=doc.meta,
    )


# --- what a digest lists --------------------------------------------------------------------

ARTICLE = Document(
    url="https://ada.medium.com/why-retrieval-beats-fine-tuning-1a2b",
    platform="medium",
    title="Why retrieval beats **fine-tuning**",
    text=(
        "# Why retrieval beats fine-tuning\n\n"
        "> Fine-tuning teaches *style*; retrieval brings the [facts](https://ada.example/f). "
        "The rest of the post says why.\n\nA second paragraph."
    ),
    author="Ada",
    published_at=datetime(2025, 6, 5, tzinfo=UTC),
    owned=True,
)
HOOK = Document(  # a LinkedIn post: its title is its first line, not repeated as summary
    url="https://www.linkedin.com/feed/update/urn:li:activity:7001/",
    platform="linkedin",
    title="Shipping on Fridays is fine.",
    text="Shipping on Fridays is fine.\n\nIf your deploys are `boring`. Here is how we got there.",
    author="Ada",
    published_at=datetime(2025, 6, 4, tzinfo=UTC),
)
GUEST = Document(
    url="https://ada.substack.com/p/guest-post-on-evals",
    platform="substack",
    title="Guest post: <evals> that matter",
    text="- Evals should match what users do, not what is easy to measure! Then more.",
    author="Grace",
    published_at=datetime(2025, 6, 6, tzinfo=UTC),
    owned=False,
)
NOTES = Document(
    url="file:///home/ada/notes/lora.md",
    platform="local",
    title="LoRA notes",
    text="```python\nprint('skip me')\n```\n\nRank 8 was enough for the voice, " + "x" * 200,
    author="Ada",
    published_at=datetime(2025, 6, 3, tzinfo=UTC),
)

EXPECTED_TEXT = """\
**Digest**: 5 new documents since 2025-06-02 09:00 UTC

**Your writing**
- Why retrieval beats fine-tuning <https://ada.medium.com/why-retrieval-beats-fine-tuning-1a2b>
  Medium · Fine-tuning teaches style; retrieval brings the facts.
- Shipping on Fridays is fine. <https://www.linkedin.com/feed/update/urn:li:activity:7001/>
  LinkedIn · If your deploys are boring.
- LoRA notes
  Local file · Rank 8 was enough for the voice…

**Saved from others**
- Guest post: evals that matter <https://ada.substack.com/p/guest-post-on-evals>
  Substack · Evals should match what users do, not what is easy to measure!

**Code**
- ada/twin: src/mod1.py <https://github.com/ada/twin/blob/main/src/mod1.py>
  GitHub"""


def test_a_digest_lists_the_period_by_section_with_links_and_one_line_summaries(
    warehouse: Warehouse, clock: Clock
) -> None:
    store(warehouse, clock, MONDAY - timedelta(hours=1), post(1))  # the period before
    store(warehouse, clock, MONDAY + timedelta(days=1), HOOK, code_file(1))
    store(warehouse, clock, MONDAY + timedelta(days=2), ARTICLE, GUEST, NOTES)
    store(warehouse, clock, MONDAY + WEEK + timedelta(seconds=1), post(2))  # the next one

    digest = gather_digest(warehouse, MONDAY, MONDAY + WEEK)

    assert digest is not None
    assert [(i.title, i.url, i.platform, i.section) for i in digest.items] == [
        ("Why retrieval beats fine-tuning", ARTICLE.url, "medium", "own"),
        ("Shipping on Fridays is fine.", HOOK.url, "linkedin", "own"),
        ("LoRA notes", NOTES.url, "local", "own"),
        ("Guest post: evals that matter", GUEST.url, "substack", "others"),
        ("ada/twin: src/mod1.py", code_file(1).url, "github", "code"),
    ]
    assert [i.summary for i in digest.items] == [
        "Fine-tuning teaches style; retrieval brings the facts.",
        "If your deploys are boring.",
        "Rank 8 was enough for the voice…",
        "Evals should match what users do, not what is easy to measure!",
        "",
    ]
    assert (digest.total, digest.more) == (5, 0)
    assert digest.text() == EXPECTED_TEXT
    # The owner's writing only, newest written first; never the guest post or the code.
    assert digest.draft_prompt() == (
        "A LinkedIn post that builds on these new pieces of mine: “Why retrieval beats "
        "fine-tuning”, “Shipping on Fridays is fine.” and “LoRA notes”."
    )


def test_the_adapters_render_each_item_as_a_link_and_leave_no_markup_open() -> None:
    digest = build_digest([stored(ARTICLE), stored(GUEST), stored(NOTES)])
    assert digest is not None
    slack = to_mrkdwn(digest.text())
    assert f"• <{ARTICLE.url}|Why retrieval beats fine-tuning>" in slack
    assert f"• <{GUEST.url}|Guest post: evals that matter>" in slack
    assert "*Your writing*" in slack and "**" not in slack
    telegram = to_html(digest.text())
    assert f'• <a href="{ARTICLE.url}">Why retrieval beats fine-tuning</a>' in telegram
    assert f'• <a href="{GUEST.url}">Guest post: evals that matter</a>' in telegram
    assert "<b>Saved from others</b>" in telegram
    assert "• LoRA notes\n  Local file · Rank 8" in telegram  # a file url is not linked
    assert "file://" not in telegram and "*" not in telegram and "&lt;" not in telegram


def test_an_empty_period_makes_no_digest(warehouse: Warehouse, clock: Clock) -> None:
    store(warehouse, clock, MONDAY, post(1))  # at the window's start: the period before
    assert gather_digest(warehouse, MONDAY, MONDAY + WEEK) is None
    assert build_digest([]) is None
    assert warehouse.documents_created(MONDAY - WEEK, MONDAY, limit=5)[0].title == "Post 1"


def test_max_items_lists_the_owners_writing_first_and_counts_the_rest(
    warehouse: Warehouse, clock: Clock
) -> None:
    # Three of the owner's posts, then a crawl of twelve code files stored after them.
    store(warehouse, clock, MONDAY + timedelta(hours=1), *(post(n, days_ago=n) for n in (1, 2, 3)))
    store(warehouse, clock, MONDAY + timedelta(hours=2), *(code_file(n) for n in range(12)))

    for scan in (100, 6):  # all read; or only the newest 6 read and the rest counted
        digest = gather_digest(warehouse, MONDAY, MONDAY + WEEK, max_items=5, scan=scan)
        assert digest is not None
        listed = [(i.title, i.section) for i in digest.items]
        if scan == 100:
            assert listed[:3] == [("Post 1", "own"), ("Post 2", "own"), ("Post 3", "own")]
            assert [s for _, s in listed[3:]] == ["code", "code"]
            assert digest.draft_prompt("thread") == (
                "An X thread that builds on these new pieces of mine: “Post 1”, “Post 2” "
                "and “Post 3”."
            )
        else:  # the newest six are all code files: listed, but no draft from them
            assert [s for _, s in listed] == ["code"] * 5
            assert digest.draft_prompt() is None
        assert (len(digest.items), digest.total, digest.more) == (5, 15, 10)
        assert digest.text().endswith("\n\n…and 10 more.")
        assert digest.text().startswith("**Digest**: 15 new documents since 2025-06-02")

    with pytest.raises(ValueError, match="max_items"):
        build_digest([stored(post(1))], max_items=0)


def test_the_draft_prompt_names_one_piece_and_sets_off_no_search_filter() -> None:
    # "in 2023" right after "I wrote" would be read as a date filter; the prompt avoids it.
    digest = build_digest([stored(post(1, title='In 2023 "we" moved to retrieval'))])
    assert digest is not None
    prompt = digest.draft_prompt()
    assert prompt == (
        "A LinkedIn post that builds on this new piece of mine: “In 2023 we moved to retrieval”."
    )
    assert infer_filters(prompt, now=MONDAY) == SearchFilters()
    only_others = build_digest([stored(GUEST), stored(code_file(1))])
    assert only_others is not None and only_others.draft_prompt() is None


@pytest.mark.parametrize(
    ("text", "title", "summary"),
    [
        ("One. Two.", "", "One."),
        ("First line without a stop\nsecond line", "", "First line without a stop"),
        (
            "## A heading\n\n* a **bold** [link](https://x.example) and `code`",
            "",
            "a bold link and code",
        ),
        ("Title\n\n1. Numbered point, then? More", "Title", "Numbered point, then?"),
        ("---\n> quoted <b>html</b> here", "", "quoted b html /b here"),
        ("Only the title", "Only the title", ""),
        ("", "", ""),
        ("word " * 60, "", ("word " * 31).strip() + "…"),
    ],
)
def test_summaries_are_one_plain_line_cut_at_a_word(text: str, title: str, summary: str) -> None:
    got = summarize(text, title=title)
    assert got == summary
    assert len(got) <= 160 and "\n" not in got


# --- the digest log: at most once -----------------------------------------------------------


def test_a_period_is_claimed_once_and_the_next_starts_where_it_ended(
    warehouse: Warehouse,
) -> None:
    log = DigestLog(warehouse, first_window=timedelta(days=3))
    with warehouse.engine.connect() as conn:
        names = set(conn.scalars(sa.text(f"SELECT name FROM {MIGRATIONS_TABLE}")))
    assert "schedules.0001_digests" in names
    assert log.last_period_end("telegram:1") is None

    first = log.claim("telegram:1", MONDAY)
    assert first is not None
    assert (first.destination, first.period_start, first.period_end) == (
        "telegram:1",
        MONDAY - timedelta(days=3),
        MONDAY,
    )
    assert log.claim("telegram:1", MONDAY) is None  # the same period again
    assert log.claim("telegram:1", MONDAY - timedelta(hours=1)) is None  # an earlier one
    other = log.claim("slack:C1", MONDAY)  # destinations are independent
    assert other is not None and other.period_start == MONDAY - timedelta(days=3)
    assert log.last_period_end("telegram:1") == MONDAY

    log.sent(first, "d" * 32)
    [entry] = log.history("telegram:1")
    assert (entry.status, entry.draft_id, entry.period_end) == ("sent", "d" * 32, MONDAY)
    assert entry.finished_at is not None and entry.holder.endswith(f":{os.getpid()}")
    with pytest.raises(LookupError, match="not being sent"):
        log.sent(first, None)

    second = log.claim("telegram:1", MONDAY + WEEK)
    assert second is not None
    assert (second.period_start, second.period_end) == (MONDAY, MONDAY + WEEK)
    log.empty(second)
    assert [(e.status, e.draft_id) for e in log.history("telegram:1")] == [
        ("empty", None),
        ("sent", "d" * 32),
    ]
    assert log.last_period_end("telegram:1") == MONDAY + WEEK
    with pytest.raises(ValueError, match="destination"):
        log.claim(" ", MONDAY)


_KILLED_AFTER_CLAIMING = """
import os, signal, sys
from datetime import datetime
from bot.schedules.digest_log import DigestLog
from ingest.warehouse.store import Warehouse

claim = DigestLog(Warehouse(sys.argv[1])).claim("telegram:1", datetime.fromisoformat(sys.argv[2]))
print(claim.id if claim else "refused", flush=True)
os.kill(os.getpid(), signal.SIGKILL)  # dies "while posting": no sent(), no clean exit
"""


def test_a_claim_left_by_a_killed_process_blocks_a_duplicate_after_reopening(
    warehouse_url: str,
) -> None:
    run = subprocess.run(
        [sys.executable, "-c", _KILLED_AFTER_CLAIMING, warehouse_url, MONDAY.isoformat()],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == -signal.SIGKILL, run.stderr
    assert run.stdout.strip().isdigit(), run.stdout

    with Warehouse(warehouse_url) as reopened:  # the restarted process
        log = DigestLog(reopened)
        [left] = log.history("telegram:1")
        assert (left.status, left.period_end, left.finished_at) == ("sending", MONDAY, None)
        assert left.id == int(run.stdout) and not left.holder.endswith(f":{os.getpid()}")
        assert log.claim("telegram:1", MONDAY) is None  # never posted twice
        assert log.last_period_end("telegram:1") == MONDAY
        later = log.claim("telegram:1", MONDAY + WEEK)
        assert later is not None and later.period_start == MONDAY


def test_concurrent_claims_grant_each_period_once_and_never_overlap(warehouse_url: str) -> None:
    workers = 8
    start = threading.Barrier(workers)
    # Half race for one period, half for periods a second apart, each from its own engine
    # (its own connections, as another process would have).
    ends = [MONDAY] * (workers // 2) + [MONDAY + timedelta(seconds=s) for s in range(1, 5)]

    def claim(end: datetime) -> Claim | None:
        with Warehouse(warehouse_url) as wh:
            log = DigestLog(wh)
            start.wait(30)
            return log.claim("slack:C1", end)

    with ThreadPoolExecutor(workers) as pool:
        outcomes = list(pool.map(claim, ends))

    assert sum(1 for c in outcomes[: workers // 2] if c is not None) <= 1
    granted = sorted((c for c in outcomes if c is not None), key=lambda c: c.period_end)
    # Nothing ends after the latest period, so it is always granted.
    assert granted and granted[-1].period_end == MONDAY + timedelta(seconds=4)
    # The granted periods chain: each starts where the one before ended.
    assert granted[0].period_start == granted[0].period_end - WEEK
    for before, after in pairwise(granted):
        assert after.period_start == before.period_end
    with Warehouse(warehouse_url) as wh:
        history = DigestLog(wh).history("slack:C1")
    assert sorted(e.id for e in history) == sorted(c.id for c in granted)


def test_two_claims_of_one_period_at_once_grant_exactly_one(warehouse_url: str) -> None:
    workers = 6
    start = threading.Barrier(workers)

    def claim(_: int) -> Claim | None:
        with Warehouse(warehouse_url) as wh:
            log = DigestLog(wh)
            start.wait(30)
            return log.claim("telegram:7", MONDAY)

    with ThreadPoolExecutor(workers) as pool:
        outcomes = list(pool.map(claim, range(workers)))
    assert sum(1 for c in outcomes if c is not None) == 1
    with Warehouse(warehouse_url) as wh:
        assert len(DigestLog(wh).history("telegram:7")) == 1
