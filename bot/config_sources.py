"""Config sections for the sources beyond plain links: GitHub, LinkedIn live and the
platforms' data exports. Credentials are not here: they come from the environment only
(TWIN_GITHUB__TOKEN, TWIN_LINKEDIN__COOKIES or TWIN_LINKEDIN__USERNAME/PASSWORD)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class GitHubConfig:
    api_url: str = "https://api.github.com"
    # File extensions read from repos (with the dot). Empty: the built-in set of docs and
    # common source files.
    extensions: tuple[str, ...] = ()
    max_file_bytes: int = 200_000
    max_files_per_repo: int = 500
    include_forks: bool = False
    include_archived: bool = True
    include_private: bool = False
    concurrency: int = 4


@dataclass(frozen=True)
class LinkedInConfig:
    base_url: str = "https://www.linkedin.com"
    pacing_min: float = 2.0
    pacing_max: float = 5.0
    page_size: int = 50
    max_posts: int = 1000
    timeout: float = 30.0


@dataclass(frozen=True)
class ExportsConfig:
    max_total_mb: int = 1000
    max_files: int = 100_000
    max_file_mb: int = 250


def validate_sources(
    github: GitHubConfig,
    linkedin: LinkedInConfig,
    exports: ExportsConfig,
    need: Callable[[bool, str, str], None],
) -> None:
    need(github.max_file_bytes >= 1, "github.max_file_bytes", "must be at least 1")
    need(github.max_files_per_repo >= 1, "github.max_files_per_repo", "must be at least 1")
    need(github.concurrency >= 1, "github.concurrency", "must be at least 1")
    need(
        github.api_url.startswith(("https://", "http://")),
        "github.api_url",
        "must be an http(s) URL",
    )
    need(
        all(e.startswith(".") for e in github.extensions),
        "github.extensions",
        'must list extensions with their dot, e.g. [".md", ".py"]',
    )
    need(
        0 <= linkedin.pacing_min <= linkedin.pacing_max,
        "linkedin.pacing_min",
        "must be 0 or more and at most linkedin.pacing_max",
    )
    need(1 <= linkedin.page_size <= 100, "linkedin.page_size", "must be 1..100")
    need(linkedin.max_posts >= 1, "linkedin.max_posts", "must be at least 1")
    need(linkedin.timeout > 0, "linkedin.timeout", "must be positive")
    need(exports.max_total_mb >= 1, "exports.max_total_mb", "must be at least 1")
    need(exports.max_files >= 1, "exports.max_files", "must be at least 1")
    need(exports.max_file_mb >= 1, "exports.max_file_mb", "must be at least 1")
