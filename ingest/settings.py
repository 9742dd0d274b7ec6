"""The config sections of ingest: [warehouse], [ingest] (the fetcher's policy), [chunking],
[github], [linkedin] and [exports].

Each field is one key of `config.toml` (where it is documented for the owner); a test keeps
the two in step. Credentials are not here: they come from the environment only
(TWIN_GITHUB__TOKEN, TWIN_LINKEDIN__COOKIES or TWIN_LINKEDIN__USERNAME/PASSWORD).
"""

from __future__ import annotations

from dataclasses import dataclass

from core.settings import require

MB = 1_000_000


@dataclass(frozen=True)
class WarehouseSettings:
    # SQLAlchemy URL. Empty: SQLite at $TWIN_HOME/warehouse.db.
    url: str = ""
    # Seconds a write waits for another process's lock before it fails, saying so.
    lock_timeout: float = 30.0

    def validate(self) -> None:
        # the engine says what is wrong with a URL when it connects
        require(self.lock_timeout > 0, "warehouse.lock_timeout", "must be positive (seconds)")


@dataclass(frozen=True, slots=True)
class FetchPolicy:
    """[ingest]: how `Fetcher` reaches the network, and how many inputs run at once."""

    # Allow loopback, private and link-local targets (off: the SSRF guard refuses them).
    allow_private_networks: bool = False
    # CIDR ranges exempt from the SSRF guard, e.g. ("192.168.1.20/32",).
    allowed_networks: tuple[str, ...] = ()
    # Seconds to connect, and the longest silence between two reads.
    connect_timeout: float = 10.0
    read_timeout: float = 30.0
    # Seconds for one attempt, body included: stops a trickling server.
    total_timeout: float = 120.0
    # Largest response body accepted, in bytes.
    max_bytes: int = 10 * 1024 * 1024
    # Redirect hops followed; each one is re-checked by the SSRF guard.
    max_redirects: int = 5
    # Extra attempts on 429/5xx/connection reset, backing off from backoff_base seconds
    # (doubling, with jitter); a longer Retry-After than max_retry_after fails the fetch.
    retries: int = 3
    backoff_base: float = 0.5
    max_retry_after: float = 60.0
    # Requests in flight to any one host (politeness).
    per_host_concurrency: int = 2
    # Inputs (links, paths, feed entries) processed at once.
    concurrency: int = 4
    user_agent: str = "llm-twin/0.1 (+self-hosted writing assistant)"

    def __post_init__(self) -> None:
        # A Fetcher built in code is checked too (the loader calls `validate` as well).
        self.validate()

    def validate(self) -> None:
        require(self.max_bytes > 0, "ingest.max_bytes", "must be positive")
        require(0 <= self.max_redirects <= 20, "ingest.max_redirects", "must be 0..20")
        require(self.retries >= 0, "ingest.retries", "must be 0 or more")
        require(self.concurrency >= 1, "ingest.concurrency", "must be at least 1")
        require(self.per_host_concurrency >= 1, "ingest.per_host_concurrency", "must be at least 1")
        require(self.total_timeout > 0, "ingest.total_timeout", "must be positive")


@dataclass(frozen=True)
class ChunkingSettings:
    # Chunk size and overlap in tokens of the embedding model's tokenizer.
    max_tokens: int = 200
    overlap_tokens: int = 32

    def validate(self) -> None:
        require(self.max_tokens >= 16, "chunking.max_tokens", "must be at least 16")
        require(
            0 <= self.overlap_tokens < self.max_tokens,
            "chunking.overlap_tokens",
            "must be at least 0 and below chunking.max_tokens",
        )


@dataclass(frozen=True)
class GitHubSettings:
    api_url: str = "https://api.github.com"
    # File extensions read from repos (with the dot). Empty: the built-in set of docs and
    # common source files.
    extensions: tuple[str, ...] = ()
    # Larger files are skipped; at most this many files are read per repo.
    max_file_bytes: int = 200_000
    max_files_per_repo: int = 500
    # From a user's list of repos: forks, archived repos, private repos (need a token).
    include_forks: bool = False
    include_archived: bool = True
    include_private: bool = False
    # Requests in flight at once.
    concurrency: int = 4

    def validate(self) -> None:
        require(self.max_file_bytes >= 1, "github.max_file_bytes", "must be at least 1")
        require(self.max_files_per_repo >= 1, "github.max_files_per_repo", "must be at least 1")
        require(self.concurrency >= 1, "github.concurrency", "must be at least 1")
        require(
            self.api_url.startswith(("https://", "http://")),
            "github.api_url",
            "must be an http(s) URL",
        )
        require(
            all(e.startswith(".") for e in self.extensions),
            "github.extensions",
            'must list extensions with their dot, e.g. [".md", ".py"]',
        )


@dataclass(frozen=True)
class LinkedInSettings:
    base_url: str = "https://www.linkedin.com"
    # Seconds to wait before each request, drawn between these.
    pacing_min: float = 2.0
    pacing_max: float = 5.0
    # Posts per request, and the most read on a first crawl.
    page_size: int = 50
    max_posts: int = 1000
    # Seconds to wait for one response.
    timeout: float = 30.0

    def validate(self) -> None:
        require(
            0 <= self.pacing_min <= self.pacing_max,
            "linkedin.pacing_min",
            "must be 0 or more and at most linkedin.pacing_max",
        )
        require(1 <= self.page_size <= 100, "linkedin.page_size", "must be 1..100")
        require(self.max_posts >= 1, "linkedin.max_posts", "must be at least 1")
        require(self.timeout > 0, "linkedin.timeout", "must be positive")


@dataclass(frozen=True)
class ExportsSettings:
    # Uncompressed megabytes read in all, files in the zip, megabytes of any one file read.
    max_total_mb: int = 1000
    max_files: int = 100_000
    max_file_mb: int = 250

    def validate(self) -> None:
        require(self.max_total_mb >= 1, "exports.max_total_mb", "must be at least 1")
        require(self.max_files >= 1, "exports.max_files", "must be at least 1")
        require(self.max_file_mb >= 1, "exports.max_file_mb", "must be at least 1")
