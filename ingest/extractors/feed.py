"""RSS/Atom feeds: one document per entry, with the entry's full text.

Many feeds carry only a summary; then the entry's own page is fetched and read with the
article parser. One entry page that fails costs that entry its full text (the summary is
kept and the problem recorded), never the rest of the feed.
"""

from __future__ import annotations

import asyncio
import calendar
import io
import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urljoin, urlsplit

import feedparser

from core.errors import ExtractionError, InputError
from ingest.clean import clean_text
from ingest.document import Document
from ingest.extractors.base import Crawl, Seen
from ingest.extractors.html_text import html_to_text
from ingest.extractors.page import document_from_page, platform_for, title_from_url
from ingest.fetcher import HTML_TYPES, TEXT_TYPES, FetchedPage
from ingest.validators import conditional_headers, not_modified, validators

if TYPE_CHECKING:
    from ingest.fetcher import Fetcher

__all__ = ["FeedEntry", "FeedExtractor", "FeedResult", "parse_feed"]

log = logging.getLogger(__name__)

MIN_FULL_TEXT = 500  # feed content shorter than this is a teaser: read the entry's page
_HTML_CONTENT = frozenset({"text/html", "application/xhtml+xml"})
_FEED_PATHS = ("/feed", "/feed/", "/rss", "/rss/", "/atom", ".rss", ".atom", ".xml", "/index.xml")


@dataclass(frozen=True, slots=True)
class FeedEntry:
    url: str
    title: str
    author: str
    published_at: datetime | None
    content: str  # full content (content:encoded, atom:content) as text; "" when absent
    summary: str  # description/summary as text; "" when absent or a copy of the content
    has_page: bool = True  # False when the entry links nowhere we could fetch
    # The feed names its author and this entry names another: a guest post, someone
    # else's writing in the owner's feed (searchable, never trained on).
    guest: bool = False

    @property
    def needs_page(self) -> bool:
        """Only a summary or a teaser here; the entry's page should have the full text."""
        if not self.has_page:
            return False
        short = len(self.content) < MIN_FULL_TEXT or len(self.content) < 1.5 * len(self.summary)
        return not self.content or short


@dataclass
class FeedResult:
    documents: list[Document]
    problems: list[str] = field(default_factory=list)  # per entry; the owner should see them
    skipped: int = 0  # entries already stored and not fetched again


def parse_feed(xml: bytes | str, url: str) -> list[FeedEntry]:
    """Entries of an RSS/Atom document; no network. `ExtractionError` for a malformed or
    empty feed."""
    data = xml.encode("utf-8") if isinstance(xml, str) else xml
    headers = {"content-location": url}
    if isinstance(xml, str):  # already decoded: tell feedparser so, over the XML declaration
        headers["content-type"] = "application/xml; charset=utf-8"
    # Always a stream: feedparser opens a *string* as a URL or a local file path.
    parsed = feedparser.parse(io.BytesIO(data), response_headers=headers)
    feed_author = _author(parsed.get("feed", {}))
    entries = [
        entry
        for n, raw in enumerate(parsed.get("entries", []))
        if (entry := _entry(raw, n, url, feed_author)) is not None
    ]
    if entries:
        return entries
    if parsed.get("bozo"):
        reason = " ".join(str(parsed.get("bozo_exception") or "unreadable XML").split())
        raise ExtractionError(url, f"malformed feed: {reason}")
    if not parsed.get("version"):
        raise ExtractionError(url, "malformed feed: not an RSS or Atom document")
    raise ExtractionError(url, "the feed has no entries")


class FeedExtractor:
    name: ClassVar[str] = "feed"
    description: ClassVar[str] = "RSS/Atom feeds: one document per entry, full text"

    def __init__(
        self,
        *,
        platform: str | None = None,
        concurrency: int = 4,
        entry_url: Callable[[str], str] | None = None,
    ) -> None:
        self.platform = platform  # None: from each entry's host (medium, substack, web)
        self.concurrency = concurrency
        # Maps an entry's link to the url it is stored under (Medium drops ?source=rss).
        self._entry_url = entry_url or (lambda url: url)

    def matches(self, url: str) -> bool:
        return urlsplit(url).path.lower().endswith(_FEED_PATHS)

    async def extract(self, url: str, fetcher: Fetcher) -> list[Document]:
        return await self.from_page(await fetcher.fetch(url), fetcher, source_url=url)

    async def crawl(self, url: str, fetcher: Fetcher, seen: Seen) -> Crawl:
        page = await fetcher.fetch(url, headers=conditional_headers(seen.state))
        return await self.crawl_page(page, fetcher, source_url=url, seen=seen)

    async def crawl_page(
        self, page: FetchedPage, fetcher: Fetcher, *, source_url: str, seen: Seen
    ) -> Crawl:
        """A fetched feed against what the last crawl saw: 304 means nothing to do; entries
        already stored are not fetched again (their feed text is still compared when the
        feed carries it in full, which catches edits), new ones are read in full."""
        if not_modified(page):
            return Crawl(state=dict(seen.state), not_modified=True)
        result = await self.read(page, fetcher, source_url=source_url, known=seen.documents)
        dates = [d.published_at for d in result.documents if d.published_at is not None]
        state: dict[str, Any] = validators(page)
        newest = max(dates, default=None)
        previous = seen.state.get("newest")
        if newest is not None:
            state["newest"] = max(newest.isoformat(), str(previous or ""))
        elif previous:
            state["newest"] = previous
        return Crawl(result.documents, state=state, skipped=result.skipped, notes=result.problems)

    async def from_page(
        self, page: FetchedPage, fetcher: Fetcher, *, source_url: str
    ) -> list[Document]:
        result = await self.read(page, fetcher, source_url=source_url)
        for problem in result.problems:
            log.warning("%s", problem)
        return result.documents

    async def read(
        self,
        page: FetchedPage,
        fetcher: Fetcher,
        *,
        source_url: str,
        known: Collection[str] = (),
    ) -> FeedResult:
        """Documents of a fetched feed and the problems met on the way. Entries whose url
        is in `known` are not fetched again: taken from the feed when it carries their
        full text, otherwise skipped (counted in `FeedResult.skipped`)."""
        parsed = await asyncio.to_thread(parse_feed, page.text(), page.final_url)
        entries = [replace(e, url=self._entry_url(e.url)) for e in parsed]
        fresh = [e for e in entries if not (e.url in known and e.needs_page)]
        skipped = len(entries) - len(fresh)
        entries = fresh
        gate = asyncio.Semaphore(self.concurrency)
        outcomes = await asyncio.gather(
            *(self._document(entry, fetcher, gate, source_url) for entry in entries)
        )
        result = FeedResult([doc for doc, _ in outcomes if doc is not None], skipped=skipped)
        result.problems = [problem for _, problem in outcomes if problem]
        if not result.documents and not skipped:
            reasons = "; ".join(result.problems)
            raise ExtractionError(source_url, f"no entry in the feed has any text ({reasons})")
        return result

    async def _document(
        self, entry: FeedEntry, fetcher: Fetcher, gate: asyncio.Semaphore, source_url: str
    ) -> tuple[Document | None, str | None]:
        from_feed = max(entry.content, entry.summary, key=len)
        text, author, published, problem = from_feed, entry.author, entry.published_at, None
        if entry.needs_page:
            try:
                async with gate:
                    page = await fetcher.fetch(entry.url, accept=HTML_TYPES | TEXT_TYPES)
                article = await asyncio.to_thread(document_from_page, page)
            except InputError as exc:
                kept = "kept the feed's summary" if from_feed else "the entry was skipped"
                problem = f"{entry.url}: full text not read ({exc.reason}); {kept}"
            else:
                if len(article.text) >= len(from_feed):
                    text = article.text
                author = author or article.author
                published = published or article.published_at
        if not text:
            return None, problem or f"{entry.url}: the feed entry has no text; skipped"
        document = Document(
            url=entry.url,
            platform=self.platform or platform_for(entry.url),
            title=entry.title or title_from_url(entry.url),
            text=text,
            author=author,
            published_at=published,
            source_url=source_url,
            owned=False if entry.guest else None,
        )
        return document, problem


def _entry(raw: Any, n: int, feed_url: str, feed_author: str) -> FeedEntry | None:
    contents = [c for c in raw.get("content", []) if c.get("value", "").strip()]
    best = max(contents, key=lambda c: len(c["value"]), default=None)
    content = _text(best["value"], best.get("type", "")) if best else ""
    raw_summary = raw.get("summary", "")
    if best is not None and raw_summary.strip() == best["value"].strip():
        raw_summary = ""  # feedparser copies Atom content into the summary
    summary = _text(raw_summary, raw.get("summary_detail", {}).get("type", "text/html"))
    link = _link(raw, feed_url)
    if not (content or summary or link):
        return None  # nothing to read: what a broken feed leaves behind, or a bare title
    title = " ".join(html_to_text(raw.get("title", "")).split())
    return FeedEntry(
        url=link or f"{feed_url}#entry-{n + 1}",  # unique, so a document id all the same
        title=title,
        author=_author(raw) or feed_author,
        guest=_is_guest(_author(raw), feed_author),
        published_at=_published(raw),
        content=content,
        summary=summary,
        has_page=link is not None,
    )


def _is_guest(author: str, feed_author: str) -> bool:
    def key(name: str) -> str:
        return " ".join(name.casefold().split())

    return bool(author and feed_author) and key(author) != key(feed_author)


def _text(value: str, mime: str) -> str:
    return html_to_text(value) if mime in _HTML_CONTENT else clean_text(value)


def _link(raw: Any, feed_url: str) -> str | None:
    """The entry's page: its (alternate) link, else any http(s) link, else an http(s) id."""
    hrefs = [raw.get("link", ""), *(link.get("href", "") for link in raw.get("links", []))]
    candidates: list[str] = [urljoin(feed_url, href.strip()) for href in hrefs if href.strip()]
    candidates.append(str(raw.get("id", "")).strip())  # ids are often URNs: never joined
    for candidate in candidates:
        if urlsplit(candidate).scheme in ("http", "https"):
            return candidate
    return None


def _author(node: Any) -> str:
    detail = node.get("author_detail") or {}
    return str(detail.get("name") or node.get("author") or "").strip()


def _published(raw: Any) -> datetime | None:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        value = raw.get(key)
        if value:  # feedparser's struct_time is UTC
            return datetime.fromtimestamp(calendar.timegm(value), tz=UTC)
    return None
