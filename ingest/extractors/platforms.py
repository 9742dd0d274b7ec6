"""Medium and Substack: a profile or publication link is read through its RSS feed.

Single posts are not matched here; the article extractor takes them and labels them with
the platform by their host.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, ClassVar, Self
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from core.errors import ExtractionError
from ingest.document import Document
from ingest.extractors.article import is_feed
from ingest.extractors.base import Crawl, Seen
from ingest.extractors.feed import FeedExtractor
from ingest.validators import conditional_headers, not_modified

if TYPE_CHECKING:
    from ingest.extractors.registry import SourceSettings
    from ingest.fetcher import Fetcher

__all__ = ["MediumExtractor", "SubstackExtractor", "medium_feed_url", "substack_feed_url"]

# Paths on medium.com that are Medium's own pages, not publications.
_MEDIUM_PAGES = frozenset(
    {"m", "me", "p", "s", "about", "tag", "tags", "topic", "topics", "search", "plans"}
    | {"membership", "creators", "policy", "jobs-at-medium", "new-story", "signin", "login"}
    | {"lists", "upgrade", "business", "partner-program", "verified-authors", "feed"}
)
_MEDIUM_HOSTS = frozenset({"www", "help", "policy", "api", "miro", "cdn-images-1", "link"})
_SUBSTACK_HOSTS = frozenset({"www", "on", "api", "cdn", "support", "substackcdn"})
_SLUG = re.compile(r"^@?[A-Za-z0-9][A-Za-z0-9_.\-]*$")


def medium_feed_url(url: str) -> str | None:
    """The feed of a Medium profile or publication link; None for anything else (posts)."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    segments = [s for s in parts.path.split("/") if s]
    if host in ("medium.com", "www.medium.com"):
        if len(segments) == 2 and segments[0] == "feed" and _SLUG.match(segments[1]):
            return f"https://medium.com/feed/{segments[1]}"
        if len(segments) != 1 or not _SLUG.match(segments[0]):
            return None
        name = segments[0]
        if name.startswith("@"):
            return f"https://medium.com/feed/{name}" if len(name) > 1 else None
        return None if name.lower() in _MEDIUM_PAGES else f"https://medium.com/feed/{name}"
    user = host.removesuffix(".medium.com")
    if user != host and "." not in user and user not in _MEDIUM_HOSTS:
        return f"https://{host}/feed" if segments in ([], ["feed"]) else None
    return None


def substack_feed_url(url: str) -> str | None:
    """The feed of a Substack publication (its root or /archive); None for posts."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    name = host.removesuffix(".substack.com")
    if name == host or "." in name or name in _SUBSTACK_HOSTS:
        return None
    segments = [s for s in parts.path.split("/") if s]
    return f"https://{host}/feed" if segments in ([], ["archive"], ["feed"]) else None


class _ProfileFeedExtractor:
    """A profile link → its platform's feed → one document per post."""

    name: ClassVar[str]
    description: ClassVar[str]
    platform: ClassVar[str]

    @classmethod
    def from_settings(cls, settings: SourceSettings) -> Self:
        return cls(fetch_url_for=settings.fetch_url_for, concurrency=settings.policy.concurrency)

    def __init__(
        self, *, fetch_url_for: Callable[[str], str] | None = None, concurrency: int = 4
    ) -> None:
        # `fetch_url_for` maps the derived feed URL to the one actually fetched: tests
        # point it at a local server; a mirror or proxy could too.
        self._fetch_url_for = fetch_url_for or (lambda feed_url: feed_url)
        self._feeds = FeedExtractor(
            platform=self.platform, concurrency=concurrency, entry_url=self.post_url
        )

    @staticmethod
    def post_url(url: str) -> str:
        """The url a post is stored under, from its feed link."""
        return url

    @staticmethod
    def feed_url(url: str) -> str | None:
        raise NotImplementedError

    def matches(self, url: str) -> bool:
        return self.feed_url(url) is not None

    async def extract(self, url: str, fetcher: Fetcher) -> list[Document]:
        return (await self.crawl(url, fetcher, Seen())).documents

    async def crawl(self, url: str, fetcher: Fetcher, seen: Seen) -> Crawl:
        feed_url = self.feed_url(url)
        if feed_url is None:
            raise ExtractionError(url, f"not a {self.platform} profile or publication link")
        page = await fetcher.fetch(
            self._fetch_url_for(feed_url), headers=conditional_headers(seen.state)
        )
        if not (is_feed(page) or not_modified(page)):
            raise ExtractionError(
                url,
                f"{feed_url} did not return a feed (got {page.content_type}); check the"
                " profile or publication name",
            )
        return await self._feeds.crawl_page(page, fetcher, source_url=url, seen=seen)


class MediumExtractor(_ProfileFeedExtractor):
    name: ClassVar[str] = "medium"
    description: ClassVar[str] = (
        "Medium profiles and publications (medium.com/@you, you.medium.com,"
        " medium.com/publication), read through their RSS feed"
    )
    platform: ClassVar[str] = "medium"
    feed_url = staticmethod(medium_feed_url)

    @staticmethod
    def post_url(url: str) -> str:
        # Medium tags feed links with ?source=rss-...; without it a post keeps one id
        # whether it came from the feed or was dropped as a link.
        return _without_source(url)


class SubstackExtractor(_ProfileFeedExtractor):
    name: ClassVar[str] = "substack"
    description: ClassVar[str] = (
        "Substack publications (name.substack.com or its /archive), read through their feed"
    )
    platform: ClassVar[str] = "substack"
    feed_url = staticmethod(substack_feed_url)


def _without_source(url: str) -> str:
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "source"]
    return urlunsplit(parts._replace(query=urlencode(query)))
