from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from xml.sax.saxutils import escape

import pytest
from aiohttp import web

from core.errors import ExtractionError
from ingest.extractors.article import ArticleExtractor
from ingest.extractors.feed import MIN_FULL_TEXT, FeedEntry, FeedExtractor, parse_feed
from ingest.fetcher import Fetcher
from ingest.settings import FetchPolicy
from tests.http_server import FIXTURES, LocalServer

FEEDS = FIXTURES / "feeds"
LONG_HTML = "".join(
    f"<p>Paragraph {n}: a full post straight from the feed, long enough to be the whole"
    " thing and not a teaser.</p>"
    for n in range(8)
)


@pytest.fixture
async def fetcher() -> AsyncIterator[Fetcher]:
    async with Fetcher(FetchPolicy(allowed_networks=("127.0.0.1/32",), retries=0)) as f:
        yield f


def rss(*items: str, title: str = "Owner's blog") -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0"'
        ' xmlns:content="http://purl.org/rss/1.0/modules/content/"'
        ' xmlns:dc="http://purl.org/dc/elements/1.1/">'
        f"<channel><title>{title}</title><link>http://example.com/</link>"
        f"<description>d</description>{''.join(items)}</channel></rss>"
    )


def item(
    link: str | None,
    title: str,
    summary: str = "",
    content: str = "",
    author: str = "",
    date: str = "Tue, 07 Jan 2020 10:00:00 +0200",
) -> str:
    parts = [f"<title>{escape(title)}</title>", f"<pubDate>{date}</pubDate>"]
    if link is not None:
        parts.append(f"<link>{escape(link)}</link>")
    if summary:
        parts.append(f"<description>{escape(summary)}</description>")
    if content:
        parts.append(f"<content:encoded><![CDATA[{content}]]></content:encoded>")
    if author:
        parts.append(f"<dc:creator>{author}</dc:creator>")
    return f"<item>{''.join(parts)}</item>"


# -- the pure parser on the real fixture feeds -----------------------------------------


def test_parse_real_atom_feed() -> None:
    url = "http://example.org/feed.atom"
    first, second = parse_feed((FEEDS / "feed1.atom").read_bytes(), url)
    assert first == FeedEntry(
        url="http://example.org/2003/12/13/atom03",
        title="Atom-Powered Robots Run Amok",
        author="John Doe",  # from the feed: the entry names no author of its own
        published_at=datetime(2003, 12, 13, 18, 30, 2, tzinfo=UTC),
        content="",
        summary="Some text.",
    )
    assert first.needs_page
    assert second.url == "http://example.org/1000"  # its only link (rel=self), not its URN id
    assert second.title == "Self-referenced link"


def test_parse_real_rss_feed() -> None:
    [entry] = parse_feed((FEEDS / "feed2.rss").read_text(encoding="utf-8"), "http://x.test/")
    assert entry.url == "http://www.example.com/blog/post/1"
    assert entry.title == "Example entry"
    assert entry.published_at == datetime(2009, 9, 6, 16, 20, tzinfo=UTC)
    assert entry.summary == "Here is some text containing an interesting description."
    assert entry.author == "" and entry.content == "" and entry.needs_page


def test_full_content_is_converted_with_paragraphs_and_does_not_need_the_page() -> None:
    code = "<pre><code>def f():\n    return 1</code></pre>"
    feed = rss(item("/posts/1", "A &amp; B", "Teaser.", LONG_HTML + code, author="Ann"))
    [entry] = parse_feed(feed, "https://blog.example.com/feed")
    assert entry.url == "https://blog.example.com/posts/1"  # relative links resolved
    assert entry.title == "A & B" and entry.author == "Ann"
    assert entry.published_at == datetime(2020, 1, 7, 8, 0, tzinfo=UTC)
    assert entry.content.startswith("Paragraph 0: a full post")
    assert entry.content.count("\n\n") == 8
    assert entry.content.endswith("```\ndef f():\n    return 1\n```")
    assert not entry.needs_page


def test_atom_content_is_not_mistaken_for_a_summary() -> None:
    atom = (
        '<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title>'
        '<entry><title>Post</title><link href="https://a.example/post"/>'
        f"<updated>2021-05-01T12:00:00Z</updated><content type='html'>{escape(LONG_HTML)}"
        "</content></entry></feed>"
    )
    [entry] = parse_feed(atom, "https://a.example/feed")
    assert entry.summary == ""  # feedparser copies content into summary; not a teaser
    assert len(entry.content) > MIN_FULL_TEXT and not entry.needs_page


@pytest.mark.parametrize(
    ("content", "summary", "needs_page"),
    [
        ("", "Short summary.", True),
        ("x" * 300, "", True),  # too short to be a whole post
        ("x" * 800, "y" * 600, True),  # barely longer than the summary: a longer teaser
        ("x" * 800, "y" * 100, False),
    ],
)
def test_when_the_page_is_needed(content: str, summary: str, needs_page: bool) -> None:
    entry = FeedEntry("https://a.example/p", "t", "", None, content, summary)
    assert entry.needs_page is needs_page


def test_entry_without_any_link_gets_a_unique_url_and_no_fetch() -> None:
    feed = rss(item(None, "One", "Summary one."), item(None, "Two", "Summary two."))
    one, two = parse_feed(feed, "https://a.example/feed")
    assert (one.url, two.url) == (
        "https://a.example/feed#entry-1",
        "https://a.example/feed#entry-2",
    )
    assert not one.needs_page


@pytest.mark.parametrize(
    "body",
    [
        '<?xml version="1.0"?><rss version="2.0"><channel><title>t</title><item><title>a',
        "<rss><channel><item><title>x</item></channel>",
        "<rss version='2.0'><channel><item><title>only a title</title></item></chan",
        "this is not XML at all",
        "<html><body><p>a web page</p></body></html>",
        b"\x89PNG\r\n\x1a\n\x00\x00",
    ],
)
def test_malformed_feed(body: str | bytes) -> None:
    with pytest.raises(ExtractionError) as info:
        parse_feed(body, "https://a.example/feed")
    assert info.value.reason.startswith("malformed feed: ")


def test_a_feed_body_naming_a_local_file_is_not_opened() -> None:
    # feedparser reads a string that names a file; the body must only ever be data
    with pytest.raises(ExtractionError, match="malformed feed"):
        parse_feed(str(FEEDS / "feed2.rss"), "https://a.example/feed")
    with pytest.raises(ExtractionError, match="malformed feed"):
        parse_feed(str(FEEDS / "feed2.rss").encode(), "https://a.example/feed")


def test_empty_but_valid_feed() -> None:
    with pytest.raises(ExtractionError, match="the feed has no entries"):
        parse_feed(rss(), "https://a.example/feed")
    empty_atom = '<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title></feed>'
    with pytest.raises(ExtractionError, match="the feed has no entries"):
        parse_feed(empty_atom, "https://a.example/feed")


# -- through the network ----------------------------------------------------------------


async def test_summary_only_feed_fetches_each_entry_page(
    server: LocalServer, fetcher: Fetcher
) -> None:
    rust = server.fixture_page("stackoverflow.com.rust.html", "/posts/rust")
    tool = server.fixture_page("phys.org.tool.html", "/posts/tool")
    feed = rss(
        item(rust, "What is Rust?", "Rust is loved.", author="Jake"),
        item(tool, "A flint tool", "Neanderthals and birch tar."),
    )
    url = server.page("/feed.xml", feed, content_type="application/rss+xml")
    docs = await FeedExtractor().extract(url, fetcher)
    assert [d.url for d in docs] == [rust, tool]
    assert [d.title for d in docs] == ["What is Rust?", "A flint tool"]  # the feed's titles
    assert "fighting the borrow checker" in docs[0].text and "\n\n" in docs[0].text
    assert "Zandmotor beach" in docs[1].text
    assert docs[0].author == "Jake" and docs[1].author == "Bob Yirka"  # from the page
    assert docs[0].published_at == datetime(2020, 1, 7, 8, 0, tzinfo=UTC)
    assert all(d.source_url == url and d.platform == "web" for d in docs)


async def test_one_failing_entry_page_falls_back_to_its_summary(
    server: LocalServer, fetcher: Fetcher, caplog: pytest.LogCaptureFixture
) -> None:
    good = server.fixture_page("nature.com.telescope.html", "/posts/telescope")
    wall = server.page("/posts/wall", "<html><body><form>Sign in</form></body></html>")
    feed = rss(
        item(server.url("/posts/gone"), "Gone", "The summary of a deleted post."),
        item(good, "Telescope", "FAST opens."),
        item(wall, "Members only", "What the wall hides."),
        item(server.url("/posts/gone-too"), "No summary either"),
    )
    url = server.page("/feed", feed, content_type="application/rss+xml")
    extractor = FeedExtractor()
    result = await extractor.read(await fetcher.fetch(url), fetcher, source_url=url)
    texts = {d.title: d.text for d in result.documents}
    assert texts["Gone"] == "The summary of a deleted post."
    assert "Five-hundred-meter Aperture Spherical Radio Telescope" in texts["Telescope"]
    assert texts["Members only"] == "What the wall hides."
    assert "No summary either" not in texts
    assert len(result.problems) == 3
    assert any("/posts/gone: full text not read (HTTP 404" in p for p in result.problems)
    assert any("no article text found" in p for p in result.problems)
    assert any("gone-too" in p and "skipped" in p for p in result.problems)
    with caplog.at_level(logging.WARNING, logger="ingest.extractors.feed"):
        docs = await extractor.extract(url, fetcher)
    assert len(docs) == 3 and "HTTP 404" in caplog.text


async def test_full_content_feed_fetches_no_entry_page(
    server: LocalServer, fetcher: Fetcher
) -> None:
    post = server.url("/posts/full")
    url = server.page("/feed", rss(item(post, "Full", "Teaser.", LONG_HTML)), "application/xml")
    [doc] = await FeedExtractor().extract(url, fetcher)
    assert doc.text.startswith("Paragraph 0") and server.hits.get("/posts/full") is None


async def test_entry_pages_are_fetched_with_bounded_concurrency(
    server: LocalServer, fetcher: Fetcher
) -> None:
    in_flight, peak = 0, 0
    html = (FIXTURES / "pages" / "salon.com.emissions.html").read_bytes()

    async def slow_page(request: web.Request) -> web.StreamResponse:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.02)  # long enough for a second request to overlap, if allowed
        in_flight -= 1
        return web.Response(body=html, content_type="text/html")

    links = [server.route(f"/posts/{n}", slow_page) for n in range(4)]
    feed = rss(*(item(link, f"Post {n}", "s") for n, link in enumerate(links)))
    url = server.page("/feed", feed, content_type="application/rss+xml")
    docs = await FeedExtractor(concurrency=1).extract(url, fetcher)
    assert len(docs) == 4 and peak == 1
    assert all("Rhodium Group" in d.text for d in docs)


async def test_feed_served_as_html_is_still_read_as_a_feed(
    server: LocalServer, fetcher: Fetcher
) -> None:
    feed = rss(item("https://a.example/p", "Post", "Teaser.", LONG_HTML))
    url = server.page("/feed", feed, content_type="text/html")
    [doc] = await ArticleExtractor().extract(url, fetcher)
    assert doc.title == "Post" and doc.url == "https://a.example/p"
    assert doc.source_url == url and doc.text.startswith("Paragraph 0")


async def test_real_fixture_feed_served_and_its_links_routed_locally(
    server: LocalServer, fetcher: Fetcher
) -> None:
    page = server.fixture_page("github.blog.spiceland.html", "/2003/12/13/atom03")
    atom = (FEEDS / "feed1.atom").read_text(encoding="utf-8")
    atom = atom.replace("http://example.org/2003/12/13/atom03", page)
    atom = atom.replace("http://example.org/1000", server.url("/1000"))  # a 404
    url = server.page("/feed.atom", atom, content_type="application/atom+xml")
    robots, self_ref = await ArticleExtractor().extract(url, fetcher)
    assert robots.title == "Atom-Powered Robots Run Amok" and robots.author == "John Doe"
    assert "Software Engineer for SpaceX" in robots.text
    assert self_ref.text == "Some text." and self_ref.title == "Self-referenced link"


async def test_malformed_and_empty_feeds_over_the_network(
    server: LocalServer, fetcher: Fetcher
) -> None:
    broken = server.page("/broken", "<rss><channel><item>", content_type="application/rss+xml")
    with pytest.raises(ExtractionError, match="malformed feed"):
        await ArticleExtractor().extract(broken, fetcher)
    empty = server.page("/empty", rss(), content_type="application/rss+xml")
    with pytest.raises(ExtractionError, match="the feed has no entries"):
        await FeedExtractor().extract(empty, fetcher)


async def test_no_entry_with_any_text_is_an_error(server: LocalServer, fetcher: Fetcher) -> None:
    feed = rss(item(server.url("/nope"), "Title only"))
    url = server.page("/feed", feed, content_type="application/rss+xml")
    with pytest.raises(ExtractionError, match=r"no entry in the feed has any text.*404"):
        await FeedExtractor().extract(url, fetcher)


def test_feed_extractor_matches_feed_looking_urls() -> None:
    extractor = FeedExtractor()
    assert extractor.matches("https://blog.example.com/feed")
    assert extractor.matches("https://example.com/index.xml")
    assert extractor.matches("https://example.com/posts.atom")
    assert not extractor.matches("https://example.com/feedback")


async def test_a_guest_post_in_a_feed_with_an_author_is_marked_as_someone_elses(
    server: LocalServer, fetcher: Fetcher
) -> None:
    feed = rss(
        item(server.url("/p/own"), "Own", content=LONG_HTML, author="Ann Lee"),
        item(server.url("/p/guest"), "Guest", content=LONG_HTML, author="Bo Guest"),
        item(server.url("/p/unsigned"), "Unsigned", content=LONG_HTML),
    ).replace(
        "<description>d</description>",
        "<description>d</description><dc:creator>ann  lee</dc:creator>",
    )
    url = server.page("/feed", feed, "application/xml")
    own, guest, unsigned = await FeedExtractor().extract(url, fetcher)
    assert (own.owned, guest.owned, unsigned.owned) == (None, False, None)
    assert (guest.author, unsigned.author) == ("Bo Guest", "ann  lee")
    # Without a feed-level author nobody is a guest: the source cannot tell.
    bare = server.page(
        "/bare",
        rss(item(server.url("/p/g"), "G", content=LONG_HTML, author="Bo Guest")),
        "application/xml",
    )
    [entry] = await FeedExtractor().extract(bare, fetcher)
    assert entry.owned is None
