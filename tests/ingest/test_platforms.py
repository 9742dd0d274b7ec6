from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from urllib.parse import urlsplit

import pytest

from core.errors import ExtractionError
from ingest.extractors.base import UnsupportedInputError
from ingest.extractors.platforms import (
    MediumExtractor,
    SubstackExtractor,
    medium_feed_url,
    substack_feed_url,
)
from ingest.extractors.registry import SourceSettings, build_registry, unsupported_input
from ingest.fetcher import Fetcher
from ingest.settings import FetchPolicy
from tests.http_server import LocalServer

POST_HTML = "".join(f"<p>Paragraph {n} of a post written by the owner.</p>" for n in range(30))


@pytest.fixture
async def fetcher() -> AsyncIterator[Fetcher]:
    async with Fetcher(FetchPolicy(allowed_networks=("127.0.0.1/32",), retries=0)) as f:
        yield f


def to_local(server: LocalServer) -> Callable[[str], str]:
    """Route a derived feed URL to the local server, keeping its host in the path."""

    def route(feed_url: str) -> str:
        parts = urlsplit(feed_url)
        return server.url(f"/{parts.hostname}{parts.path}")

    return route


@pytest.mark.parametrize(
    ("url", "feed"),
    [
        ("https://medium.com/@ann", "https://medium.com/feed/@ann"),
        ("https://medium.com/@ann/", "https://medium.com/feed/@ann"),
        ("https://www.medium.com/@ann.lee?source=home", "https://medium.com/feed/@ann.lee"),
        ("https://medium.com/towards-data-science", "https://medium.com/feed/towards-data-science"),
        ("https://medium.com/feed/@ann", "https://medium.com/feed/@ann"),
        ("https://ann.medium.com", "https://ann.medium.com/feed"),
        ("https://ann.medium.com/", "https://ann.medium.com/feed"),
        ("https://ann.medium.com/feed", "https://ann.medium.com/feed"),
        # not profiles: single posts, Medium's own pages, look-alike hosts
        ("https://medium.com/@ann/why-i-write-1a2b3c4d5e6f", None),
        ("https://medium.com/towards-data-science/a-post-1a2b3c4d5e6f", None),
        ("https://ann.medium.com/why-i-write-1a2b3c4d5e6f", None),
        ("https://medium.com/p/1a2b3c4d5e6f", None),
        ("https://medium.com/", None),
        ("https://medium.com/@", None),
        ("https://medium.com/tag/python", None),
        ("https://medium.com/search", None),
        ("https://medium.com/me", None),
        ("https://help.medium.com/", None),
        ("https://medium.com.evil.example/@ann", None),
        ("https://notmedium.com/@ann", None),
        ("https://example.com/@ann", None),
    ],
)
def test_medium_urls(url: str, feed: str | None) -> None:
    assert medium_feed_url(url) == feed
    assert MediumExtractor().matches(url) is (feed is not None)


@pytest.mark.parametrize(
    ("url", "feed"),
    [
        ("https://ann.substack.com", "https://ann.substack.com/feed"),
        ("https://ann.substack.com/", "https://ann.substack.com/feed"),
        ("https://ann.substack.com/archive", "https://ann.substack.com/feed"),
        ("https://ann.substack.com/archive?sort=new", "https://ann.substack.com/feed"),
        ("https://ann.substack.com/feed", "https://ann.substack.com/feed"),
        ("https://ann.substack.com/p/why-i-write", None),
        ("https://ann.substack.com/about", None),
        ("https://substack.com/@ann", None),
        ("https://www.substack.com/", None),
        ("https://on.substack.com/", None),
        ("https://substack.com.evil.example/", None),
        ("https://ann.substack.example/", None),
    ],
)
def test_substack_urls(url: str, feed: str | None) -> None:
    assert substack_feed_url(url) == feed
    assert SubstackExtractor().matches(url) is (feed is not None)


# The two profile extractors; the registry built from every registered one adds GitHub
# and LinkedIn.
PROFILES = ("medium", "substack")


@pytest.mark.parametrize(
    ("url", "name"),
    [
        ("https://medium.com/@ann", "medium"),
        ("https://ann.substack.com/archive", "substack"),
        ("https://medium.com/@ann/why-i-write-1a2b3c4d5e6f", "article"),
        ("https://ann.substack.com/p/why-i-write", "article"),
        ("https://example.com/blog/feed", "article"),
        ("https://example.com/post", "article"),
    ],
)
def test_registry_routing(url: str, name: str) -> None:
    assert build_registry(only=PROFILES).for_url(url).name == name


def test_registry_describes_what_it_supports() -> None:
    registry = build_registry(only=PROFILES)
    lines = registry.describe()
    assert [line.split(":")[0] for line in lines] == ["medium", "substack", "article"]
    error = unsupported_input("ftp://x.test/a", registry)
    assert isinstance(error, UnsupportedInputError)
    message = str(error)
    assert message.startswith("ftp://x.test/a: cannot ingest this.")
    assert "medium.com/@you" in message and "substack.com" in message and ".md" in message


def rss(*items: str) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"'
        ' xmlns:content="http://purl.org/rss/1.0/modules/content/"'
        ' xmlns:dc="http://purl.org/dc/elements/1.1/"><channel><title>Feed</title>'
        f"{''.join(items)}</channel></rss>"
    )


def entry(link: str, title: str, content: str = "", summary: str = "") -> str:
    body = f"<content:encoded><![CDATA[{content}]]></content:encoded>" if content else ""
    body += f"<description>{summary}</description>" if summary else ""
    return (
        f"<item><title>{title}</title><link>{link}</link><dc:creator>Ann Lee</dc:creator>"
        f"<pubDate>Mon, 03 Feb 2025 09:30:00 GMT</pubDate>{body}</item>"
    )


async def test_medium_profile_end_to_end(server: LocalServer, fetcher: Fetcher) -> None:
    feed = rss(
        entry("https://medium.com/@ann/why-i-write-1a2b?source=rss-abc------2", "Why", POST_HTML),
        entry("https://medium.com/@ann/on-tests-3c4d?source=rss-abc------2", "Tests", POST_HTML),
    )
    served = server.page("/medium.com/feed/@ann", feed, content_type="text/xml")
    registry = build_registry(SourceSettings(fetch_url_for=to_local(server)), only=PROFILES)
    extractor = registry.for_url("https://medium.com/@ann")
    docs = await extractor.extract("https://medium.com/@ann", fetcher)
    assert server.hits == {urlsplit(served).path: 1}  # the feed only: it has the full text
    assert [d.url for d in docs] == [
        "https://medium.com/@ann/why-i-write-1a2b",
        "https://medium.com/@ann/on-tests-3c4d",
    ]
    assert all(d.platform == "medium" and d.author == "Ann Lee" for d in docs)
    assert all(d.source_url == "https://medium.com/@ann" for d in docs)
    assert docs[0].title == "Why" and docs[0].text.count("\n\n") == 29


async def test_substack_publication_end_to_end(server: LocalServer, fetcher: Fetcher) -> None:
    post = server.fixture_page("github.blog.spiceland.html", "/ann.substack.com/p/spotlight")
    feed = rss(
        entry("https://ann.substack.com/p/full", "Full", POST_HTML),
        entry(post, "Spotlight", summary="Only a teaser."),  # summary only: page is read
    )
    server.page("/ann.substack.com/feed", feed, content_type="application/rss+xml")
    extractor = SubstackExtractor(fetch_url_for=to_local(server))
    full, spotlight = await extractor.extract("https://ann.substack.com/archive", fetcher)
    assert full.platform == spotlight.platform == "substack"
    assert full.url == "https://ann.substack.com/p/full" and full.text.startswith("Paragraph 0")
    assert "Software Engineer for SpaceX" in spotlight.text
    assert spotlight.source_url == "https://ann.substack.com/archive"


async def test_profile_whose_feed_is_not_a_feed(server: LocalServer, fetcher: Fetcher) -> None:
    server.page("/medium.com/feed/@nobody", "<html><body><p>Not found</p></body></html>")
    extractor = MediumExtractor(fetch_url_for=to_local(server))
    with pytest.raises(ExtractionError, match=r"did not return a feed \(got text/html"):
        await extractor.extract("https://medium.com/@nobody", fetcher)


async def test_a_post_url_given_to_a_profile_extractor_is_refused(fetcher: Fetcher) -> None:
    with pytest.raises(ExtractionError, match="not a substack profile"):
        await SubstackExtractor().extract("https://ann.substack.com/p/post", fetcher)
