"""The built-in extractors, registered through the same seam a plugin would use."""

from __future__ import annotations

from collections.abc import Callable

from ingest.extractors.article import ArticleExtractor
from ingest.extractors.base import ExtractorRegistry, UnsupportedInputError
from ingest.extractors.feed import FeedExtractor
from ingest.extractors.local import SUPPORTED_FILES
from ingest.extractors.platforms import MediumExtractor, SubstackExtractor

__all__ = ["default_registry", "unsupported_input"]


def default_registry(
    *, fetch_url_for: Callable[[str], str] | None = None, feed_concurrency: int = 4
) -> ExtractorRegistry:
    """Medium and Substack profiles first; every other http(s) link goes to the article
    extractor, which also reads feeds. `fetch_url_for` rewrites the feed URLs that the
    profile extractors derive (tests point them at a local server)."""
    registry = ExtractorRegistry(
        fallback=ArticleExtractor(FeedExtractor(concurrency=feed_concurrency))
    )
    registry.register(MediumExtractor(fetch_url_for=fetch_url_for, concurrency=feed_concurrency))
    registry.register(SubstackExtractor(fetch_url_for=fetch_url_for, concurrency=feed_concurrency))
    return registry


def unsupported_input(source: str, registry: ExtractorRegistry) -> UnsupportedInputError:
    """The error for an input nothing can read, listing everything that can be read."""
    supported = "; ".join([*registry.describe(), f"local files: {SUPPORTED_FILES}"])
    return UnsupportedInputError(source, f"cannot ingest this. Supported: {supported}")
