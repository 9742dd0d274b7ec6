"""The generic web-article extractor, the registry's fallback for any http(s) link: a feed
goes to the feed extractor, any other page to the article parser (`page`).

The parser's names (`parse_article`, `parse_date`, ...) are also importable from here, as
they were before the parser moved to its own module.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, ClassVar
from urllib.parse import urlsplit

from ingest.content import sniff
from ingest.document import Document
from ingest.extractors.base import Crawl, Seen
from ingest.extractors.feed import FeedExtractor
from ingest.extractors.page import (
    MIN_TEXT_CHARS,
    NO_TEXT,
    document_from_page,
    parse_article,
    parse_date,
    platform_for,
    title_from_url,
)
from ingest.fetcher import FEED_TYPES, FetchedPage
from ingest.validators import conditional_headers, not_modified, validators

if TYPE_CHECKING:
    from ingest.fetcher import Fetcher

__all__ = ["ArticleExtractor", "document_from_page", "is_feed", "parse_article"]
__all__ += ["MIN_TEXT_CHARS", "NO_TEXT", "parse_date", "platform_for", "title_from_url"]

# What sniffing a body can say about a feed; bare "application/xml" is not enough.
_SNIFFED_FEEDS = frozenset({"application/rss+xml", "application/atom+xml", "application/rdf+xml"})


class ArticleExtractor:
    name: ClassVar[str] = "article"
    description: ClassVar[str] = "any web article, RSS/Atom feed or plain-text page (http/https)"

    def __init__(self, feeds: FeedExtractor | None = None) -> None:
        self.feeds = feeds if feeds is not None else FeedExtractor()

    def matches(self, url: str) -> bool:
        return urlsplit(url).scheme in ("http", "https")

    async def extract(self, url: str, fetcher: Fetcher) -> list[Document]:
        return (await self.crawl(url, fetcher, Seen())).documents

    async def crawl(self, url: str, fetcher: Fetcher, seen: Seen) -> Crawl:
        """The page (or feed) at `url`, asked with the validators of the last crawl: a 304
        costs nothing further."""
        page = await fetcher.fetch(url, headers=conditional_headers(seen.state))
        if is_feed(page) or (not_modified(page) and seen.state.get("feed")):
            crawl = await self.feeds.crawl_page(page, fetcher, source_url=url, seen=seen)
            crawl.state["feed"] = True
            return crawl
        if not_modified(page):
            return Crawl(state=dict(seen.state), not_modified=True)
        document = await asyncio.to_thread(document_from_page, page)
        return Crawl([document], state=validators(page))


def is_feed(page: FetchedPage) -> bool:
    """Declared as a feed, or a feed served with the wrong type (often text/html)."""
    return page.content_type in FEED_TYPES or sniff(page.body) in _SNIFFED_FEEDS
