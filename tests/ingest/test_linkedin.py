"""The LinkedIn extractor against a LinkedIn emulator on loopback, through the real
linkedin-api library: sign-in, paging, reposts, recrawls, refusals, pacing, threads."""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import stat
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from core.errors import ConfigError, ExtractionError, FetchError, InputError
from ingest.document import Document
from ingest.extractors.base import IncrementalExtractor, Seen
from ingest.extractors.linkedin import (
    LinkedInCredentials,
    LinkedInExtractor,
    linkedin_post_time,
    linkedin_post_url,
    linkedin_profile_id,
)
from ingest.fetcher import Fetcher
from tests.linkedin_emulator import PROFILES, UPDATES, LinkedInEmulator, Member, Update

T = datetime(2024, 3, 1, 9, 30, tzinfo=UTC)
PROFILE = "https://www.linkedin.com/in/ada-lovelace/"
EXPORT = "llm-twin ingest Basic_LinkedInDataExport.zip"
LONG_LINE = (
    "A first line that goes on for quite a while, longer than any title on a list should ever be"
)


@dataclass
class World:
    ada: Member
    grace: Member
    first: Update
    long: Update
    theirs: Update
    reshare: Update
    latest: Update


@pytest.fixture
async def emulator() -> AsyncIterator[LinkedInEmulator]:
    server = LinkedInEmulator()
    await server.start()
    yield server
    await server.close()


@pytest.fixture
async def fetcher() -> AsyncIterator[Fetcher]:
    async with Fetcher() as f:  # the seam's argument; linkedin-api does its own requests
        yield f


@pytest.fixture
def world(emulator: LinkedInEmulator) -> World:
    """Ada's feed, newest first: a post, a picture without words, a reshare with her words,
    a repost of Grace's post, a post with a long first line, her first post."""
    ada = emulator.member("ada-lovelace", "Ada", "Lovelace", "Analyst of engines")
    grace = emulator.member("grace-hopper", "Grace", "Hopper", "Rear admiral")
    first = emulator.post(ada, "Why I write every morning\n\nIt clears my head before work.", T)
    long = emulator.post(ada, f"{LONG_LINE}\nand a second line.", T + timedelta(days=2))
    theirs = emulator.post(grace, "Debugging is the art of finding the moth.", T + timedelta(3))
    emulator.repost(ada, theirs, T + timedelta(days=4))
    reshare = emulator.post(ada, "Grace says it better than I could.", T + timedelta(5), theirs)
    emulator.post(ada, "", T + timedelta(days=6))
    latest = emulator.post(ada, "Notes on the analytical engine.", T + timedelta(days=7))
    return World(ada, grace, first, long, theirs, reshare, latest)


def cookies(emulator: LinkedInEmulator, member: Member) -> LinkedInCredentials:
    li_at, jsessionid = emulator.session(member)
    return LinkedInCredentials(li_at=li_at, jsessionid=jsessionid)


def extractor(
    emulator: LinkedInEmulator, credentials: LinkedInCredentials | None, **options: Any
) -> LinkedInExtractor:
    options = {"pacing": (0.0, 0.0), "page_size": 2, "timeout": 5.0, **options}
    return LinkedInExtractor(credentials, base_url=emulator.url(""), **options)


def url_of(update: Update) -> str:
    """As the data export's Shares.csv spells a post's ShareLink."""
    return f"https://www.linkedin.com/feed/update/urn%3Ali%3AugcPost%3A{update.share_id}"


def expected(world: World) -> list[Document]:
    def doc(update: Update, title: str, owned: bool = True, **meta: str) -> Document:
        return Document(
            url=url_of(update),
            platform="linkedin",
            title=title,
            text=update.text,
            author=update.actor.name,
            published_at=update.at,
            source_url=PROFILE,
            owned=owned,
            meta={"urn": update.share_urn, "activity_urn": update.urn, **meta},
        )

    return [
        doc(world.latest, "Notes on the analytical engine."),
        doc(world.reshare, world.reshare.text, reshared_urn=world.theirs.urn),
        doc(world.theirs, world.theirs.text, owned=False),
        doc(world.long, LONG_LINE[:79].rsplit(" ", 1)[0] + "…"),
        doc(world.first, "Why I write every morning"),
    ]


def fields(document: Document) -> tuple[Any, ...]:
    return (
        document.url,
        document.platform,
        document.title,
        document.text,
        document.author,
        document.published_at,
        document.source_url,
        document.owned,
        dict(document.meta),
    )


# -- links, urns, credentials ----------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "public_id"),
    [
        ("https://www.linkedin.com/in/ada-lovelace/", "ada-lovelace"),
        ("https://www.linkedin.com/in/ada-lovelace", "ada-lovelace"),
        ("https://linkedin.com/in/ada-lovelace/?originalSubdomain=uk", "ada-lovelace"),
        ("https://uk.linkedin.com/in/ada-lovelace/", "ada-lovelace"),
        ("https://www.linkedin.com/in/ada-lovelace/recent-activity/all/", "ada-lovelace"),
        ("https://www.linkedin.com/in/ada-lovelace/recent-activity/shares/", "ada-lovelace"),
        ("https://www.linkedin.com/in/ada-lovelace/detail/recent-activity/shares/", "ada-lovelace"),
        ("https://www.linkedin.com/in/j%C3%BCrgen-m%C3%BCller-42/", "jürgen-müller-42"),
        # single posts go to the article extractor; other pages and hosts are not profiles
        ("https://www.linkedin.com/posts/ada-lovelace_engines-activity-7171-abcd/", None),
        ("https://www.linkedin.com/feed/update/urn:li:activity:7171717171717171717/", None),
        ("https://www.linkedin.com/in/ada-lovelace/recent-activity/comments/", None),
        ("https://www.linkedin.com/in/ada-lovelace/details/experience/", None),
        ("https://www.linkedin.com/company/analytical-engines/", None),
        ("https://www.linkedin.com/in/", None),
        ("https://linkedin.com.evil.example/in/ada-lovelace/", None),
        ("ftp://www.linkedin.com/in/ada-lovelace/", None),
    ],
)
def test_profile_links(url: str, public_id: str | None) -> None:
    assert linkedin_profile_id(url) == public_id
    assert LinkedInExtractor().matches(url) is (public_id is not None)


def test_post_urls_are_spelled_as_the_export_spells_them() -> None:
    # the data export's Shares.csv: percent-encoded, no trailing slash
    export = "https://www.linkedin.com/feed/update/urn%3Ali%3Ashare%3A6841234567890123456"
    assert linkedin_post_url("urn:li:share:6841234567890123456") == export
    assert linkedin_post_url(export) == export
    assert linkedin_post_url(
        "https://www.linkedin.com/feed/update/urn:li:ugcPost:7171717171717171717/"
    ) == ("https://www.linkedin.com/feed/update/urn%3Ali%3AugcPost%3A7171717171717171717")


def test_post_ids_carry_their_time() -> None:
    with pytest.raises(ValueError, match="not a LinkedIn post"):
        linkedin_post_url("https://www.linkedin.com/in/ada-lovelace/")
    at = datetime(2024, 5, 17, 8, 0, 1, 234000, tzinfo=UTC)
    assert linkedin_post_time(f"urn:li:activity:{(int(at.timestamp() * 1000) << 22) | 99}") == at
    assert linkedin_post_time("urn:li:activity:12") is None  # 1970: not an id with a time
    assert linkedin_post_time("urn:li:fsd_profile:ACoAAB") is None
    assert linkedin_post_time(f"urn:li:share:{10**40}") is None


def test_credentials_from_the_environment(tmp_path: Path) -> None:
    env = {"TWIN_LINKEDIN__COOKIES": 'li_at=AQEDARx; JSESSIONID="ajax:123"; lang=v=2&lang=en'}
    assert LinkedInCredentials.from_env(env) == LinkedInCredentials(
        li_at="AQEDARx", jsessionid='"ajax:123"'
    )
    path = tmp_path / "cookies.txt"
    assert LinkedInCredentials.from_env({"TWIN_LINKEDIN__COOKIES": str(path)}) == (
        LinkedInCredentials(cookies_file=path)
    )
    login = {"TWIN_LINKEDIN__USERNAME": "ada@example.org", "TWIN_LINKEDIN__PASSWORD": "s3cret"}
    credentials = LinkedInCredentials.from_env(login)
    assert credentials == LinkedInCredentials(username="ada@example.org", password="s3cret")
    assert "s3cret" not in repr(credentials) and "AQEDARx" not in repr(
        LinkedInCredentials.from_env(env)
    )
    assert LinkedInCredentials.from_env({}) is None
    with pytest.raises(ConfigError, match="TWIN_LINKEDIN__PASSWORD"):
        LinkedInCredentials.from_env({"TWIN_LINKEDIN__USERNAME": "ada@example.org"})
    with pytest.raises(ConfigError, match="JSESSIONID"):
        LinkedInCredentials.from_env({"TWIN_LINKEDIN__COOKIES": "li_at=AQEDARx"})


# -- crawling --------------------------------------------------------------------------


async def test_first_crawl_with_cookies_reads_every_post(
    emulator: LinkedInEmulator, world: World, fetcher: Fetcher
) -> None:
    linkedin = extractor(emulator, cookies(emulator, world.ada))
    assert isinstance(linkedin, IncrementalExtractor)

    crawl = await linkedin.crawl(PROFILE, fetcher, Seen())

    assert [fields(d) for d in crawl.documents] == [fields(d) for d in expected(world)]
    assert crawl.owner == "Ada Lovelace"
    assert (crawl.skipped, crawl.present, crawl.not_modified, crawl.notes) == (0, None, False, [])
    assert crawl.state["newest_urn"] == world.latest.urn
    assert crawl.state["newest_at"] == world.latest.at.isoformat()
    # the profile, then three pages of two, each after the token the last one gave
    requests = [urlsplit(r) for r in emulator.voyager_requests]
    assert [r.path for r in requests] == [PROFILES, UPDATES, UPDATES, UPDATES]
    pages = [parse_qs(r.query) for r in requests[1:]]
    assert [(p["start"], p["count"]) for p in pages] == [
        (["0"], ["2"]),
        (["2"], ["2"]),
        (["4"], ["2"]),
    ]
    assert "paginationToken" not in pages[0]
    assert all(p["paginationToken"][0].startswith("100000-") for p in pages[1:])
    assert [d.url for d in await linkedin.extract(PROFILE, fetcher)] == [
        d.url for d in expected(world)
    ]


async def test_a_browser_cookies_file_signs_in(
    emulator: LinkedInEmulator, world: World, fetcher: Fetcher, tmp_path: Path
) -> None:
    li_at, jsessionid = emulator.session(world.ada)
    path = tmp_path / "cookies.txt"

    def write(expires: int) -> None:
        path.write_text(
            "# Netscape HTTP Cookie File\n"
            f".linkedin.com\tTRUE\t/\tTRUE\t{expires}\tlang\tv=2&lang=en-us\n"
            f"#HttpOnly_.www.linkedin.com\tTRUE\t/\tTRUE\t{expires}\tli_at\t{li_at}\n"
            f'.www.linkedin.com\tTRUE\t/\tTRUE\t{expires}\tJSESSIONID\t"{jsessionid}"\n'
        )

    write(expires=int((datetime.now(UTC) + timedelta(days=300)).timestamp()))
    linkedin = extractor(emulator, LinkedInCredentials(cookies_file=path))
    assert [d.url for d in (await linkedin.crawl(PROFILE, fetcher, Seen())).documents] == [
        d.url for d in expected(world)
    ]

    write(expires=int((datetime.now(UTC) - timedelta(days=1)).timestamp()))
    with pytest.raises(InputError, match="signed out") as expired:
        await linkedin.crawl(PROFILE, fetcher, Seen())
    assert EXPORT in str(expired.value)
    missing = extractor(emulator, LinkedInCredentials(cookies_file=tmp_path / "none.txt"))
    with pytest.raises(InputError, match=r"none\.txt does not exist"):
        await missing.crawl(PROFILE, fetcher, Seen())


async def test_password_login_keeps_its_session_for_the_next_crawl(
    emulator: LinkedInEmulator, world: World, fetcher: Fetcher, tmp_path: Path
) -> None:
    emulator.account("ada@example.org", "s3cret", world.ada)
    credentials = LinkedInCredentials(username="ada@example.org", password="s3cret")
    linkedin = extractor(emulator, credentials, session_dir=tmp_path / "linkedin")

    crawl = await linkedin.crawl(PROFILE, fetcher, Seen())

    assert [d.url for d in crawl.documents] == [d.url for d in expected(world)]
    assert emulator.hits["/uas/authenticate"] == 2  # the JSESSIONID, then the credentials
    (saved,) = (tmp_path / "linkedin").iterdir()
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    assert "s3cret" not in saved.read_text()

    await extractor(emulator, credentials, session_dir=tmp_path / "linkedin").crawl(
        PROFILE, fetcher, Seen()
    )
    assert emulator.hits["/uas/authenticate"] == 2  # the saved session was enough

    emulator.sign_out_everyone()  # the saved session expires: one new login, then on
    again = await linkedin.crawl(PROFILE, fetcher, Seen())
    assert [d.url for d in again.documents] == [d.url for d in expected(world)]
    assert emulator.hits["/uas/authenticate"] == 4


async def test_nothing_is_kept_without_a_session_dir_and_secrets_stay_out_of_logs(
    emulator: LinkedInEmulator,
    world: World,
    fetcher: Fetcher,
    caplog: pytest.LogCaptureFixture,
) -> None:
    home_cache = Path.home() / ".linkedin_api"
    before = sorted(home_cache.rglob("*")) if home_cache.exists() else None
    emulator.account("ada@example.org", "s3cret-Pa55", world.ada)
    caplog.set_level(logging.DEBUG)

    linkedin = extractor(emulator, LinkedInCredentials("ada@example.org", "s3cret-Pa55"))
    assert len((await linkedin.crawl(PROFILE, fetcher, Seen())).documents) == 5

    assert "s3cret-Pa55" not in caplog.text
    assert not any(li_at in caplog.text for li_at in emulator.sessions)
    assert (sorted(home_cache.rglob("*")) if home_cache.exists() else None) == before


async def test_a_recrawl_reads_only_the_first_page_for_new_posts(
    emulator: LinkedInEmulator, world: World, fetcher: Fetcher
) -> None:
    linkedin = extractor(emulator, cookies(emulator, world.ada), page_size=3)
    first = await linkedin.crawl(PROFILE, fetcher, Seen())
    seen = Seen(state=first.state, documents={d.url: d.meta for d in first.documents})
    new = [
        emulator.post(world.ada, "Tuesday: more on loops.", T + timedelta(days=8)),
        emulator.post(world.ada, "Wednesday: the punched cards.", T + timedelta(days=9)),
    ]
    emulator.voyager_requests.clear()

    crawl = await linkedin.crawl(PROFILE, fetcher, seen)

    assert [(d.url, d.text, d.owned) for d in crawl.documents] == [
        (url_of(u), u.text, True) for u in reversed(new)
    ]
    assert len(emulator.voyager_requests) == 1  # the first page; the profile is remembered
    assert "start=0" in emulator.voyager_requests[0]
    assert (crawl.skipped, crawl.present, crawl.owner) == (5, None, "Ada Lovelace")
    assert crawl.state["newest_urn"] == new[1].urn

    emulator.voyager_requests.clear()
    seen = Seen(
        state=crawl.state, documents={**seen.documents, **{d.url: d.meta for d in crawl.documents}}
    )
    quiet = await linkedin.crawl(PROFILE, fetcher, seen)
    assert (quiet.documents, quiet.skipped, len(emulator.voyager_requests)) == ([], 7, 1)
    assert quiet.state == crawl.state


async def test_a_repost_of_an_old_post_does_not_end_a_recrawl(
    emulator: LinkedInEmulator, world: World, fetcher: Fetcher
) -> None:
    linkedin = extractor(emulator, cookies(emulator, world.ada), page_size=4)
    first = await linkedin.crawl(PROFILE, fetcher, Seen())
    seen = Seen(state=first.state, documents={d.url: d.meta for d in first.documents})
    old = emulator.post(world.grace, "Ships are safe in harbour.", T - timedelta(days=300))
    older = emulator.post(world.grace, "A ship in port is safe.", T - timedelta(days=400))
    mine = emulator.post(world.ada, "What Grace taught me.", T + timedelta(days=8))
    # on top of the feed, two old posts of Grace's: a repost shown as her post, and a
    # reshare of Ada's without words of her own
    emulator.repost(world.ada, old, T + timedelta(days=9))
    emulator.post(world.ada, "", T + timedelta(days=10), reshared=older)
    emulator.voyager_requests.clear()

    crawl = await linkedin.crawl(PROFILE, fetcher, seen)

    assert [(d.url, d.author, d.owned, d.published_at) for d in crawl.documents] == [
        (url_of(older), "Grace Hopper", False, older.at),
        (url_of(old), "Grace Hopper", False, old.at),
        (url_of(mine), "Ada Lovelace", True, mine.at),
    ]
    assert len(emulator.voyager_requests) == 1  # the page with Ada's newest known post


# -- refusals --------------------------------------------------------------------------


async def test_no_credentials_says_which_to_set_or_to_import_the_export(
    emulator: LinkedInEmulator, world: World, fetcher: Fetcher
) -> None:
    with pytest.raises(InputError) as error:
        await extractor(emulator, None).crawl(PROFILE, fetcher, Seen())
    message = str(error.value)
    assert "TWIN_LINKEDIN__COOKIES" in message and "TWIN_LINKEDIN__PASSWORD" in message
    assert EXPORT in message and "\n" not in message
    assert emulator.hits == {}


async def test_a_login_challenge_points_to_the_export(
    emulator: LinkedInEmulator, world: World, fetcher: Fetcher
) -> None:
    emulator.account("ada@example.org", "s3cret", world.ada, result="CHALLENGE")
    linkedin = extractor(emulator, LinkedInCredentials("ada@example.org", "s3cret"))

    with pytest.raises(InputError) as error:
        await linkedin.crawl(PROFILE, fetcher, Seen())

    message = str(error.value)
    assert "security challenge" in message and EXPORT in message and "\n" not in message
    assert emulator.voyager_requests == []


@pytest.mark.parametrize(
    ("username", "result"),
    [("ada@example.org", "BAD_PASSWORD"), ("ado@example.org", "BAD_EMAIL")],
)
async def test_a_refused_login_is_named(
    emulator: LinkedInEmulator, world: World, fetcher: Fetcher, username: str, result: str
) -> None:
    emulator.account("ada@example.org", "s3cret", world.ada)
    linkedin = extractor(emulator, LinkedInCredentials(username, "guess"))

    with pytest.raises(InputError, match=result) as error:
        await linkedin.crawl(PROFILE, fetcher, Seen())

    assert "TWIN_LINKEDIN__PASSWORD" in str(error.value) and "guess" not in str(error.value)
    assert emulator.voyager_requests == []


@pytest.mark.parametrize("status", [401, 302])
async def test_a_signed_out_session_points_to_fresh_cookies_or_the_export(
    emulator: LinkedInEmulator, world: World, fetcher: Fetcher, status: int
) -> None:
    linkedin = extractor(emulator, cookies(emulator, world.ada))
    emulator.sign_out_everyone()  # the cookies expired, or were signed out elsewhere
    emulator.signed_out_status = status  # LinkedIn answers 401, or redirects to its login

    with pytest.raises(InputError, match="signed out") as error:
        await linkedin.crawl(PROFILE, fetcher, Seen())

    assert EXPORT in str(error.value) and "\n" not in str(error.value)
    assert len(emulator.voyager_requests) == 1


async def test_an_empty_feed_points_to_the_export(
    emulator: LinkedInEmulator, fetcher: Fetcher
) -> None:
    quiet = emulator.member("quiet-one", "Quinn", "Quiet")
    linkedin = extractor(emulator, cookies(emulator, quiet))

    with pytest.raises(ExtractionError, match="no posts for quiet-one") as error:
        await linkedin.crawl("https://www.linkedin.com/in/quiet-one/", fetcher, Seen())

    assert EXPORT in str(error.value) and "\n" not in str(error.value)


async def test_an_unknown_profile_is_named(
    emulator: LinkedInEmulator, world: World, fetcher: Fetcher
) -> None:
    linkedin = extractor(emulator, cookies(emulator, world.ada))
    with pytest.raises(InputError, match="no profile 'nobody-here'"):
        await linkedin.crawl("https://www.linkedin.com/in/nobody-here/", fetcher, Seen())


async def test_rate_limiting_fails_the_whole_crawl(
    emulator: LinkedInEmulator, world: World, fetcher: Fetcher
) -> None:
    pages = 0

    def third_page_refused(path_qs: str) -> None:
        nonlocal pages
        pages += path_qs.startswith(UPDATES)
        if pages == 3:
            emulator.refusal = 429

    emulator.on_request = third_page_refused
    linkedin = extractor(emulator, cookies(emulator, world.ada))

    with pytest.raises(FetchError, match="HTTP 429") as error:  # nothing half-imported
        await linkedin.crawl(PROFILE, fetcher, Seen())
    assert EXPORT in str(error.value)


# -- pacing and threads ----------------------------------------------------------------


async def test_every_request_is_paced(
    emulator: LinkedInEmulator, world: World, fetcher: Fetcher
) -> None:
    events: list[str] = []
    delays: list[float] = []

    def sleep(seconds: float) -> None:  # stands in for the 2-5 s; records instead
        delays.append(seconds)
        events.append("pause")

    emulator.on_request = lambda path_qs: events.append(path_qs.split("?")[0])
    linkedin = extractor(emulator, cookies(emulator, world.ada), pacing=(2.0, 5.0), sleep=sleep)

    await linkedin.crawl(PROFILE, fetcher, Seen())

    assert events == ["pause", PROFILES] + ["pause", UPDATES] * 3
    assert all(2.0 <= d <= 5.0 for d in delays)


async def test_the_event_loop_runs_during_a_crawl(
    emulator: LinkedInEmulator, world: World, fetcher: Fetcher
) -> None:
    # The emulator answers on this loop: a crawl that blocked it would time out instead.
    emulator.delays[UPDATES] = 0.3
    ticks = 0
    done = asyncio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while not done.is_set():
            ticks += 1
            await asyncio.sleep(0.01)

    ticking = asyncio.create_task(ticker())
    try:
        crawl = await extractor(emulator, cookies(emulator, world.ada)).crawl(
            PROFILE, fetcher, Seen()
        )
    finally:
        done.set()
        await ticking
    assert len(crawl.documents) == 5
    assert ticks >= 5  # three pages of 0.3 s each, ticked through


async def test_one_linkedin_crawl_at_a_time(
    emulator: LinkedInEmulator, world: World, fetcher: Fetcher
) -> None:
    emulator.post(world.grace, "Another of Grace's.", T + timedelta(days=1))
    emulator.delays[UPDATES] = 0.05
    grace_url = "https://www.linkedin.com/in/grace-hopper/"
    ada = extractor(emulator, cookies(emulator, world.ada), page_size=1)
    grace = extractor(emulator, cookies(emulator, world.grace), page_size=1)

    ada_crawl, grace_crawl = await asyncio.gather(
        ada.crawl(PROFILE, fetcher, Seen()), grace.crawl(grace_url, fetcher, Seen())
    )

    assert (len(ada_crawl.documents), len(grace_crawl.documents)) == (5, 2)
    whose = [
        "grace" if world.grace.profile_id in r or "grace" in r else "ada"
        for r in emulator.voyager_requests
    ]
    assert sum(a != b for a, b in itertools.pairwise(whose)) == 1  # never interleaved


async def test_a_cancelled_crawl_stops_at_its_pause(
    emulator: LinkedInEmulator, world: World, fetcher: Fetcher
) -> None:
    slow = extractor(emulator, cookies(emulator, world.ada), pacing=(60.0, 60.0))
    task = asyncio.create_task(slow.crawl(PROFILE, fetcher, Seen()))
    await asyncio.sleep(0.2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    # the cancelled crawl let go at once: the next one is not kept waiting a minute
    crawl = await asyncio.wait_for(
        extractor(emulator, cookies(emulator, world.ada)).crawl(PROFILE, fetcher, Seen()), 10
    )
    assert len(crawl.documents) == 5
    assert len(emulator.voyager_requests) == 4  # all of them the second crawl's


def test_linkedin_api_is_imported_only_when_crawling() -> None:
    import subprocess
    import sys

    code = (
        "import sys, ingest.extractors.linkedin as m; m.LinkedInExtractor().matches('x');"
        " assert 'linkedin_api' not in sys.modules"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    subprocess.run([sys.executable, "-c", code], check=True, env=env)
