"""The `Extractor` seam and the registry that picks one for a URL.

An extractor turns a URL into documents. One that can crawl incrementally also implements
`crawl`: it is handed what the previous crawl of the same source left (`Seen`) and returns
a `Crawl`, which says what to store, what it saw for next time, and, when it can tell,
every document the source holds now, so that those it no longer holds are removed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

from core.errors import InputError

if TYPE_CHECKING:
    from ingest.document import Document
    from ingest.fetcher import Fetcher


class Extractor(Protocol):
    """Turns one URL into documents. `matches` must be cheap: it only looks at the URL."""

    name: ClassVar[str]
    description: ClassVar[str]

    def matches(self, url: str) -> bool: ...

    async def extract(self, url: str, fetcher: Fetcher) -> list[Document]: ...


@dataclass(frozen=True, slots=True)
class Seen:
    """What the warehouse holds for a source before it is crawled again."""

    # The `Crawl.state` the previous crawl returned ({} on the first crawl): validators
    # (ETag, Last-Modified), the newest post id or date, a repo's pushed_at and commit.
    state: Mapping[str, Any] = field(default_factory=dict)
    # Every document stored under the source: url -> its `Document.meta`.
    documents: Mapping[str, Mapping[str, str]] = field(default_factory=dict)


@dataclass
class Crawl:
    """One crawl of a source."""

    # Documents fetched this time, new or possibly changed; the warehouse compares content
    # hashes, so returning an unchanged one costs no embedding.
    documents: list[Document] = field(default_factory=list)
    # Saved with the source and handed back as `Seen.state` next time.
    state: dict[str, Any] = field(default_factory=dict)
    # The source answered "not modified" (HTTP 304, the same export file): nothing to do.
    not_modified: bool = False
    # Known documents not fetched again because the source says they did not change (a
    # GitHub file with the same blob sha, a feed entry seen before); counted as unchanged.
    skipped: int = 0
    # Every document url the source holds now, fetched or skipped; stored documents of
    # this source not among them are removed. None: the source cannot list everything
    # (a feed shows only its latest entries), so nothing is removed.
    present: frozenset[str] | None = None
    # Whose writing the source is (the export's account holder, the GitHub user), when
    # the source says; recorded on the source.
    owner: str = ""
    # Problems the owner should see that did not stop the crawl.
    notes: list[str] = field(default_factory=list)


@runtime_checkable
class IncrementalExtractor(Extractor, Protocol):
    """An extractor that remembers what it saw and fetches only what changed."""

    async def crawl(self, url: str, fetcher: Fetcher, seen: Seen) -> Crawl: ...


class ExtractorRegistry:
    """Ordered: the first extractor whose `matches` accepts the URL wins; the fallback
    (the generic article/feed extractor) takes everything else."""

    def __init__(self, fallback: Extractor) -> None:
        self._extractors: list[Extractor] = []
        self.fallback = fallback

    def register(self, extractor: Extractor) -> None:
        self._extractors.append(extractor)

    def for_url(self, url: str) -> Extractor:
        for extractor in self._extractors:
            if extractor.matches(url):
                return extractor
        return self.fallback

    def describe(self) -> list[str]:
        return [f"{e.name}: {e.description}" for e in [*self._extractors, self.fallback]]


class UnsupportedInputError(InputError):
    """Raised with the list of what *is* supported."""
