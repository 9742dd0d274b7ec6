"""The extractors the twin reads with, built from config: Medium and Substack profiles,
GitHub users and repos, the owner's LinkedIn profile, then any article or feed; and the
limits export zips are read within."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path

from bot.config import Config, secret
from ingest.exports import ZipLimits
from ingest.extractors.base import Crawl, ExtractorRegistry, Seen
from ingest.extractors.github import GitHubExtractor
from ingest.extractors.github_files import DEFAULT_EXTENSIONS
from ingest.extractors.linkedin import LinkedInCredentials, LinkedInExtractor
from ingest.extractors.local import crawl_path
from ingest.extractors.registry import default_registry

__all__ = ["path_crawler", "source_registry"]

MB = 1_000_000


def source_registry(config: Config, env: Mapping[str, str] | None = None) -> ExtractorRegistry:
    env = os.environ if env is None else env
    registry = default_registry(feed_concurrency=config.ingest.concurrency)
    gh = config.github
    registry.register(
        GitHubExtractor(
            api_url=gh.api_url,
            token=secret("github", "token", env),
            extensions=frozenset(e.lower() for e in gh.extensions) or DEFAULT_EXTENSIONS,
            max_file_bytes=gh.max_file_bytes,
            max_files_per_repo=gh.max_files_per_repo,
            include_forks=gh.include_forks,
            include_archived=gh.include_archived,
            include_private=gh.include_private,
            concurrency=gh.concurrency,
        )
    )
    li = config.linkedin
    registry.register(
        LinkedInExtractor(
            LinkedInCredentials.from_env(env),
            session_dir=config.home / "linkedin",
            base_url=li.base_url,
            pacing=(li.pacing_min, li.pacing_max),
            page_size=li.page_size,
            max_posts=li.max_posts,
            timeout=li.timeout,
        )
    )
    return registry


def path_crawler(config: Config) -> Callable[[Path, Seen], Crawl]:
    """How local paths are read: files, folders, and export zips within [exports] limits."""
    cfg = config.exports
    limits = ZipLimits(
        max_total_bytes=cfg.max_total_mb * MB,
        max_files=cfg.max_files,
        max_file_bytes=cfg.max_file_mb * MB,
    )
    return partial(crawl_path, limits=limits)
