"""The `Extractor` seam and the registry that picks one for a URL."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Protocol

from retrieval.errors import InputError

if TYPE_CHECKING:
    from ingest.document import Document
    from ingest.fetcher import Fetcher


class Extractor(Protocol):
    """Turns one URL into documents. `matches` must be cheap: it only looks at the URL."""

    name: ClassVar[str]
    description: ClassVar[str]

    def matches(self, url: str) -> bool: ...

    async def extract(self, url: str, fetcher: Fetcher) -> list[Document]: ...


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
