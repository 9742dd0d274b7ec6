"""GitHub's REST API as the GitHub extractor uses it: JSON GETs through the `Fetcher` with
the API's headers, `Link` pagination, ETags, and the rate limit read from every answer.

Unauthenticated clients get 60 requests an hour, so the limit is part of the design: a
crawl stops *before* a request that would hit it, and every refusal names the fix.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from core.errors import ExtractionError, FetchError
from ingest.content import retry_after_seconds
from ingest.fetcher import HTTPStatusError

if TYPE_CHECKING:
    from ingest.fetcher import Fetcher

__all__ = ["API_VERSION", "Answer", "GitHubAPI", "NotFoundError", "RepoInfo"]
__all__ += ["head_commit", "repo_listing", "tree_entries"]

API_VERSION = "2022-11-28"
TOKEN_SETTING = "TWIN_GITHUB__TOKEN"
MAX_WAIT = 60.0  # seconds a secondary rate limit may ask us to wait before we give up
MAX_PAGES = 100  # 10,000 repositories: past that the listing is not an account's own
_JSON = frozenset({"application/json"})
_LINK = re.compile(r'<([^>]*)>\s*;\s*rel="([^"]*)"')


class NotFoundError(FetchError):
    """The API answered 404 (or 409, a repository without commits)."""


@dataclass(frozen=True, slots=True)
class Answer:
    data: Any  # the decoded JSON; None for a 304
    headers: Mapping[str, str]
    not_modified: bool = False
    next_url: str | None = None  # the `Link: <...>; rel="next"` page


@dataclass(frozen=True, slots=True)
class RepoInfo:
    """What a repository listing (or GET /repos/{owner}/{repo}) says about one repo;
    also kept in crawl state, so a 304 on the listing still knows every repo."""

    owner: str
    name: str
    owner_type: str  # "User" or "Organization"
    default_branch: str
    pushed_at: str | None  # None for a repository nothing was ever pushed to
    fork: bool = False
    archived: bool = False
    private: bool = False

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"

    @classmethod
    def from_api(cls, data: Any, source: str) -> RepoInfo:
        try:
            return cls(
                owner=str(data["owner"]["login"]),
                name=str(data["name"]),
                owner_type=str(data["owner"].get("type", "User")),
                default_branch=str(data["default_branch"]),
                pushed_at=data.get("pushed_at"),
                fork=bool(data.get("fork", False)),
                archived=bool(data.get("archived", False)),
                private=bool(data.get("private", False)),
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise ExtractionError(source, f"GitHub sent a repository without {exc}") from None

    def to_state(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_state(cls, data: Mapping[str, Any]) -> RepoInfo:
        return cls(**data)


class GitHubAPI:
    """One crawl's view of the API: errors name `source` (the link the owner gave)."""

    def __init__(
        self,
        fetcher: Fetcher,
        *,
        source: str,
        api_url: str = "https://api.github.com",
        token: str | None = None,
        concurrency: int = 4,
    ) -> None:
        self._fetcher = fetcher
        self.source = source
        self.api_url = api_url.rstrip("/")
        self._token = token
        self._slots = asyncio.Semaphore(concurrency)
        # From the latest answer's x-ratelimit-* headers; None until one arrives.
        self.limit: int | None = None
        self.remaining: int | None = None
        self.reset: float | None = None  # epoch seconds

    async def get(self, path: str, *, not_found: str, etag: str | None = None) -> Answer:
        """GET a path under the API (or a full API url, as `Link` gives them)."""
        url = path if path.startswith(self.api_url + "/") else self.api_url + path
        for _ in range(3):
            if etag is None:  # a 304 costs nothing, so only unconditional ones can hit the wall
                self.ensure(1)
            try:
                async with self._slots:
                    page = await self._fetcher.fetch(url, accept=_JSON, headers=self._headers(etag))
            except HTTPStatusError as exc:
                self._update(exc.headers)
                await asyncio.sleep(self._wait_or_raise(exc, not_found))
                continue
            self._update(page.headers)
            if page.status == 304:
                return Answer(None, page.headers, not_modified=True)
            try:
                data = json.loads(page.text())
            except ValueError:
                raise ExtractionError(self.source, f"GitHub sent invalid JSON for {path}") from None
            return Answer(data, page.headers, next_url=self._next(page.headers))
        raise FetchError(
            self.source, "GitHub kept asking us to slow down (secondary rate limit); try later"
        )

    def ensure(self, requests: int) -> None:
        """Refuse now rather than run out partway: a half-crawled source is thrown away."""
        if self.remaining is None or self.remaining >= requests:
            return
        if self.reset is not None and self.reset <= time.time():
            return  # the window has reset since the last answer
        raise FetchError(self.source, self.rate_limit_reason(requests))

    def rate_limit_reason(self, needs: int = 0) -> str:
        when = "in an hour"
        if self.reset is not None:
            when = f"after {datetime.fromtimestamp(self.reset, UTC):%H:%M} UTC"
        reached = "reached"
        if self.remaining and needs:
            reached = f"too low for this crawl: {needs} more requests, {self.remaining} left"
        if self._token:
            limit = f"{self.limit:,} requests/hour" if self.limit else "the token's limit"
            return f"GitHub API rate limit {reached} ({limit} with this token); try again {when}"
        return (
            f"GitHub API rate limit {reached} ({self.limit or 60} requests/hour without a"
            f" token); set {TOKEN_SETTING} or try again {when}"
        )

    def _headers(self, etag: str | None) -> dict[str, str]:
        headers = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": API_VERSION}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        if etag:
            headers["If-None-Match"] = etag
        return headers

    def _update(self, headers: Mapping[str, str]) -> None:
        for name, attr in (("limit", "limit"), ("remaining", "remaining"), ("reset", "reset")):
            value = headers.get(f"x-ratelimit-{name}", "").strip()
            if value.isdigit():
                setattr(self, attr, float(value) if attr == "reset" else int(value))

    def _wait_or_raise(self, exc: HTTPStatusError, not_found: str) -> float:
        """Seconds to wait before trying again, or the error that ends the crawl."""
        status = exc.status
        if status in (404, 409):
            raise NotFoundError(self.source, not_found)
        if status == 401:
            raise FetchError(
                self.source, f"GitHub refused the token (HTTP 401); check {TOKEN_SETTING}"
            )
        if status == 451:
            raise FetchError(self.source, "GitHub blocks this content for legal reasons (451)")
        if status not in (403, 429):
            raise FetchError(self.source, f"GitHub API: {exc.reason}")
        if exc.headers.get("x-ratelimit-remaining", "").strip() == "0":
            raise FetchError(self.source, self.rate_limit_reason())
        wait = retry_after_seconds(exc.headers.get("retry-after"))
        if wait is not None and wait <= MAX_WAIT:
            return wait
        if wait is None and status == 403:
            raise FetchError(
                self.source,
                "GitHub refused the request (HTTP 403: access blocked, or a secondary rate"
                " limit); try again in a few minutes",
            )
        when = datetime.now(UTC).timestamp() + (wait if wait is not None else MAX_WAIT)
        raise FetchError(
            self.source,
            "GitHub asks us to slow down (secondary rate limit); try again after"
            f" {datetime.fromtimestamp(when, UTC):%H:%M} UTC",
        )

    def _next(self, headers: Mapping[str, str]) -> str | None:
        for url, rels in _LINK.findall(headers.get("Link", "")):
            if "next" in rels.split():
                # The token goes with it, so it must stay on the API's own origin.
                if urlsplit(url)[:2] != urlsplit(self.api_url)[:2]:
                    raise FetchError(self.source, f"GitHub's next page is off the API: {url}")
                return str(url)
        return None


def repo_listing(data: Any, source: str) -> list[Any]:
    if not isinstance(data, list):
        raise ExtractionError(source, "GitHub's repository listing is not a list")
    return data


def head_commit(data: Any, source: str) -> tuple[str, str, datetime | None]:
    """A branch's head commit: its sha, its tree's sha and when it was committed."""
    try:
        commit = data["commit"]
        details = commit["commit"]
        date = details.get("committer", {}).get("date")
        when = datetime.fromisoformat(date) if date else None
        return str(commit["sha"]), str(details["tree"]["sha"]), when
    except (KeyError, TypeError, AttributeError, ValueError):
        raise ExtractionError(source, "GitHub sent a branch without its head commit") from None


def tree_entries(data: Any, source: str) -> list[Any]:
    tree = data.get("tree") if isinstance(data, dict) else None
    if not isinstance(tree, list) or not all(isinstance(e, dict) for e in tree):
        raise ExtractionError(source, "GitHub sent a tree without its entries")
    return tree
