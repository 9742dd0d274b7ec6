"""Building the extractor registry from the registered extractors.

Extractors are entry points of group `llm_twin.extractors` (core/plugins.py): an
`Extractor` class with a `from_settings(settings: SourceSettings)` classmethod. The
built-ins (Medium and Substack profiles, GitHub, LinkedIn) are registered in pyproject.toml
exactly as a plug-in registers its own. Every other http(s) link goes to the registry's
fallback, the article extractor, which also reads feeds.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from core import plugins
from ingest.extractors.article import ArticleExtractor
from ingest.extractors.base import ExtractorRegistry, UnsupportedInputError
from ingest.extractors.feed import FeedExtractor
from ingest.extractors.local import SUPPORTED_FILES
from ingest.settings import FetchPolicy, GitHubSettings, LinkedInSettings

__all__ = ["SourceSettings", "build_registry", "unsupported_input"]


def _no_secret(section: str, key: str) -> str | None:
    return None


@dataclass(frozen=True)
class SourceSettings:
    """What every extractor's `from_settings` is handed."""

    policy: FetchPolicy = field(default_factory=FetchPolicy)
    github: GitHubSettings = field(default_factory=GitHubSettings)
    linkedin: LinkedInSettings = field(default_factory=LinkedInSettings)
    # Where an extractor may keep state of its own (a LinkedIn session); None: nowhere.
    state_dir: Path | None = None
    # Credentials come from the environment only: `secret("github", "token")` reads
    # TWIN_GITHUB__TOKEN; `env` is the environment itself, for libraries that read it.
    secret: Callable[[str, str], str | None] = _no_secret
    env: Mapping[str, str] = field(default_factory=dict)
    # Rewrites the feed URLs the profile extractors derive (tests point them at a local
    # server; a mirror or proxy could too).
    fetch_url_for: Callable[[str], str] | None = None


def build_registry(
    settings: SourceSettings | None = None, *, only: Sequence[str] | None = None
) -> ExtractorRegistry:
    """Every registered extractor (or those named in `only`, in that order), built from
    `settings`, with the article extractor as the fallback."""
    settings = settings or SourceSettings()
    registry = ExtractorRegistry(
        fallback=ArticleExtractor(FeedExtractor(concurrency=settings.policy.concurrency))
    )
    names = list(only) if only is not None else plugins.names(plugins.EXTRACTORS)
    for name in names:
        extractor = plugins.load(plugins.EXTRACTORS, name, key="extractor")
        registry.register(extractor.from_settings(settings))
    return registry


def unsupported_input(source: str, registry: ExtractorRegistry) -> UnsupportedInputError:
    """The error for an input nothing can read, listing everything that can be read."""
    supported = "; ".join([*registry.describe(), f"local files: {SUPPORTED_FILES}"])
    return UnsupportedInputError(source, f"cannot ingest this. Supported: {supported}")
