"""`LinkedInExtractor`: a profile link → the member's posts, newest first, one crawl at a
time per process, paging through the activity feed only as far as the last crawl got."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from core.errors import ExtractionError, InputError
from ingest.document import Document
from ingest.extractors.base import Crawl, Seen
from ingest.extractors.linkedin.credentials import (
    ENV_COOKIES,
    EXPORT,
    NO_CREDENTIALS,
    LinkedInCredentials,
)
from ingest.extractors.linkedin.posts import (
    LINKEDIN,
    Member,
    Post,
    dig,
    linkedin_profile_id,
    parse_post,
)
from ingest.extractors.linkedin.session import SignedOut, Stopped, Voyager, pacer, sign_in

if TYPE_CHECKING:
    from requests.cookies import RequestsCookieJar

    from ingest.extractors.registry import SourceSettings
    from ingest.fetcher import Fetcher

__all__ = ["LinkedInExtractor"]

log = logging.getLogger(__name__)

# One LinkedIn crawl at a time in this process: two sessions paging at once look like a bot.
_ONE_CRAWL = threading.Lock()


class LinkedInExtractor:
    """A LinkedIn profile link → one document per post on the member's activity feed."""

    name: ClassVar[str] = "linkedin"
    description: ClassVar[str] = (
        "LinkedIn profiles (linkedin.com/in/you/): your posts, read with your own LinkedIn"
        f" session ({ENV_COOKIES}); the data export works without one"
    )

    @classmethod
    def from_settings(cls, settings: SourceSettings) -> LinkedInExtractor:
        """[linkedin], with the owner's session from the environment."""
        li = settings.linkedin
        return cls(
            LinkedInCredentials.from_env(settings.env),
            session_dir=settings.state_dir / "linkedin" if settings.state_dir else None,
            base_url=li.base_url,
            pacing=(li.pacing_min, li.pacing_max),
            page_size=li.page_size,
            max_posts=li.max_posts,
            timeout=li.timeout,
        )

    def __init__(
        self,
        credentials: LinkedInCredentials | None = None,
        *,
        session_dir: Path | None = None,
        base_url: str = LINKEDIN,
        pacing: tuple[float, float] = (2.0, 5.0),
        sleep: Callable[[float], None] | None = None,
        page_size: int = 50,
        max_posts: int = 1000,
        timeout: float = 30.0,
    ) -> None:
        """`session_dir` keeps the session a username/password login got (a cookies.txt,
        mode 600) so the next crawl does not log in again; None keeps nothing. `pacing`
        bounds the random pause before each request, taken with `sleep` (default: a wait a
        cancelled crawl cuts short). `base_url` points the library elsewhere (tests)."""
        self._credentials = credentials
        self._session_dir = session_dir
        self._base_url = base_url.rstrip("/")
        self._pacing = pacing
        self._sleep = sleep
        self._page_size = max(1, min(page_size, 100))  # LinkedIn answers 400 above 100
        self._max_posts = max_posts
        self._timeout = timeout

    def matches(self, url: str) -> bool:
        return linkedin_profile_id(url) is not None

    async def extract(self, url: str, fetcher: Fetcher) -> list[Document]:
        return (await self.crawl(url, fetcher, Seen())).documents

    async def crawl(self, url: str, fetcher: Fetcher, seen: Seen) -> Crawl:
        """New posts since `seen`, newest first. linkedin-api is synchronous (requests), so
        the whole crawl runs in a worker thread; nothing is returned unless it all worked."""
        public_id = linkedin_profile_id(url)
        if public_id is None:
            raise ExtractionError(url, "not a LinkedIn profile link (linkedin.com/in/<id>/)")
        if self._credentials is None:
            raise InputError(url, NO_CREDENTIALS)
        stop = threading.Event()
        try:
            return await asyncio.to_thread(self._crawl, url, public_id, seen, stop)
        finally:
            stop.set()  # a cancelled crawl's thread stops at its next pause

    def _crawl(self, url: str, public_id: str, seen: Seen, stop: threading.Event) -> Crawl:
        while not _ONE_CRAWL.acquire(timeout=0.5):
            if stop.is_set():
                raise Stopped
        try:
            pause = pacer(self._pacing, self._sleep, stop)
            cookies, cached = self._sign_in(url, pause, use_cache=True)
            try:
                return self._read(url, public_id, seen, self._session(url, cookies, pause))
            except SignedOut:
                if not cached:
                    raise
                log.info("the saved LinkedIn session is signed out; signing in again")
                cookies, _ = self._sign_in(url, pause, use_cache=False)
                return self._read(url, public_id, seen, self._session(url, cookies, pause))
        finally:
            _ONE_CRAWL.release()

    def _session(self, url: str, cookies: RequestsCookieJar, pause: Callable[[], None]) -> Voyager:
        return Voyager(url, cookies, self._base_url, pause, self._timeout)

    def _read(self, url: str, public_id: str, seen: Seen, voyager: Voyager) -> Crawl:
        """Page through the member's feed until a post the last crawl had (or as old)."""
        member = _member(url, public_id, seen.state, voyager)
        newest_at = _parse_time(seen.state.get("newest_at"))
        known = {m.get(k) for m in seen.documents.values() for k in ("urn", "activity_urn")}
        posts: list[Post] = []
        crawl = Crawl(skipped=len(seen.documents), present=None, owner=member.name)
        params: dict[str, Any] = {
            "count": self._page_size,
            "start": 0,
            "q": "memberShareFeed",
            "moduleKey": "member-shares:phone",
            "includeLongTermHistory": "true",
            "profileUrn": member.profile_urn,
        }
        while True:
            page = voyager.get("/identity/profileUpdatesV2", params)
            elements = page.get("elements") if isinstance(page, dict) else None
            if not isinstance(elements, list) or (not elements and params["start"] == 0):
                raise ExtractionError(
                    url,
                    f"LinkedIn returned no posts for {public_id} (it hides activity from"
                    f" sessions it distrusts, or there are none yet): {EXPORT}",
                )
            reached = False
            for element in elements:
                post = parse_post(element, member, url)
                if post is None:
                    continue
                if post.own and (post.urn in known or _at_or_before(post.at, newest_at)):
                    reached = True
                    break
                posts.append(post)
            token = (page.get("metadata") or {}).get("paginationToken") or ""
            if reached or not token or not elements:
                break
            if len(posts) >= self._max_posts:
                crawl.notes.append(
                    f"{url}: stopped after {len(posts)} posts; for older ones, {EXPORT}"
                )
                break
            params["start"] += self._page_size
            params["paginationToken"] = token
        urls = set(seen.documents)
        for post in posts:
            if post.document is not None and post.document.url not in urls:
                urls.add(post.document.url)
                crawl.documents.append(post.document)
        crawl.state = _state(member, seen.state, posts)
        log.info("LinkedIn %s: %d new posts", public_id, len(crawl.documents))
        return crawl

    def _sign_in(
        self, url: str, pause: Callable[[], None], *, use_cache: bool
    ) -> tuple[RequestsCookieJar, bool]:
        """The session's cookies, and whether they came from the saved session."""
        credentials = self._credentials
        assert credentials is not None
        return sign_in(
            credentials,
            url,
            pause,
            base_url=self._base_url,
            session_dir=self._session_dir,
            timeout=self._timeout,
            use_cache=use_cache,
        )


def _member(url: str, public_id: str, state: Mapping[str, Any], voyager: Voyager) -> Member:
    """Whose feed this is; remembered in the crawl state, so a recrawl asks only for posts."""
    if state.get("public_id") == public_id and state.get("profile_urn") and state.get("owner"):
        member_urn = str(state.get("member_urn") or "")
        return Member(public_id, str(state["owner"]), str(state["profile_urn"]), member_urn)
    found = voyager.get(
        "/voyagerIdentityDashProfiles", {"q": "memberIdentity", "memberIdentity": public_id}
    )
    elements = found.get("elements") if isinstance(found, dict) else None
    profile = elements[0] if isinstance(elements, list) and elements else None
    if not isinstance(profile, dict) or not str(profile.get("entityUrn", "")):
        raise InputError(url, f"LinkedIn has no profile '{public_id}': check the link")
    name = " ".join(
        str(profile.get(key) or dig(profile, f"multiLocale{key[0].upper()}{key[1:]}", "en_US"))
        for key in ("firstName", "lastName")
    ).strip()
    return Member(
        public_id, name or public_id, str(profile["entityUrn"]), str(profile.get("objectUrn", ""))
    )


def _at_or_before(at: datetime | None, newest: datetime | None) -> bool:
    return at is not None and newest is not None and at <= newest


def _state(member: Member, previous: Mapping[str, Any], posts: list[Post]) -> dict[str, Any]:
    state: dict[str, Any] = {
        "public_id": member.public_id,
        "owner": member.name,
        "profile_urn": member.profile_urn,
        "member_urn": member.member_urn,
    }
    newest = [(p.at, p.urn) for p in posts if p.own and p.at is not None]
    previous_at = _parse_time(previous.get("newest_at"))
    if previous_at is not None:
        newest.append((previous_at, str(previous.get("newest_urn", ""))))
    if newest:
        at, urn = max(newest)
        state.update(newest_at=at.isoformat(), newest_urn=urn)
    return state


def _parse_time(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None
