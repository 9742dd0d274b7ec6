"""LinkedIn live: a member's posts, read through the owner's own LinkedIn session.

LinkedIn has no public API for a member's posts. `linkedin-api` (the `linkedin` extra)
talks to Voyager, the JSON API LinkedIn's web pages use, signed in as the owner. LinkedIn
distrusts automated sessions, so this stays slow and polite: a pause of 2-5 s before every
request (the library's own pacing), one crawl at a time per process, only new posts on a
recrawl, and every refusal says how to import the data export instead, which always works.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.cookiejar import Cookie, LoadError, MozillaCookieJar
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import quote, unquote, urlsplit

from ingest.clean import clean_text
from ingest.document import Document
from ingest.extractors.base import Crawl, Seen
from retrieval.errors import ConfigError, ExtractionError, FetchError, InputError

if TYPE_CHECKING:
    from requests.cookies import RequestsCookieJar

    from ingest.fetcher import Fetcher

__all__ = [
    "ENV_COOKIES",
    "ENV_PASSWORD",
    "ENV_USERNAME",
    "LinkedInCredentials",
    "LinkedInExtractor",
    "linkedin_post_time",
    "linkedin_post_url",
    "linkedin_profile_id",
]

log = logging.getLogger(__name__)

ENV_USERNAME = "TWIN_LINKEDIN__USERNAME"
ENV_PASSWORD = "TWIN_LINKEDIN__PASSWORD"
ENV_COOKIES = "TWIN_LINKEDIN__COOKIES"
LINKEDIN = "https://www.linkedin.com"
EXPORT = (
    "import your data export instead: Settings → Data privacy → Get a copy of your data,"
    " then `llm-twin ingest Basic_LinkedInDataExport.zip`"
)
CHALLENGE = (
    "LinkedIn asked for a security challenge (it does this to automated logins): sign in"
    f" in a browser and set {ENV_COOKIES} from it, or {EXPORT}"
)
SIGNED_OUT = (
    "LinkedIn says this session is signed out (its cookies expired or were revoked): copy"
    f" fresh li_at and JSESSIONID cookies from a browser into {ENV_COOKIES}, or {EXPORT}"
)
NO_CREDENTIALS = (
    f"reading LinkedIn needs your session: set {ENV_COOKIES} (your browser's li_at and"
    f" JSESSIONID cookies, or a cookies.txt file) or {ENV_USERNAME} and {ENV_PASSWORD};"
    f" or {EXPORT}"
)

_HOST = re.compile(r"(?:www\.|[a-z]{2}\.)?linkedin\.com")
_PUBLIC_ID = re.compile(r"[\w\-]{3,100}")
_ACTIVITY_PAGES = {(), ("recent-activity", "all"), ("recent-activity", "shares")}
_ACTIVITY_PAGES |= {("detail", *page) for page in _ACTIVITY_PAGES if page}
_POST_URN = re.compile(r"urn:li:(?:activity|share|ugcPost):(\d+)")
_LINKEDIN_EPOCH = datetime(2003, 1, 1, tzinfo=UTC)
_TITLE_CHARS = 80
_REFUSED_LOGINS = frozenset({"BAD_PASSWORD", "BAD_EMAIL", "BAD_USERNAME_OR_PASSWORD"})
# One LinkedIn crawl at a time in this process: two sessions paging at once look like a bot.
_ONE_CRAWL = threading.Lock()


def linkedin_profile_id(url: str) -> str | None:
    """The public id in a profile link (linkedin.com/in/<id>/, or its recent-activity
    page); None for anything else, single posts included."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not _HOST.fullmatch(parts.hostname or ""):
        return None
    segments = [unquote(s) for s in parts.path.split("/") if s]
    if len(segments) < 2 or segments[0] != "in" or tuple(segments[2:]) not in _ACTIVITY_PAGES:
        return None
    return segments[1] if _PUBLIC_ID.fullmatch(segments[1]) else None


def linkedin_post_url(urn_or_link: str) -> str:
    """The url a LinkedIn post is stored under, from its urn or a feed/update link in any
    spelling: spelled as the data export's Shares.csv writes its ShareLink
    (https://www.linkedin.com/feed/update/urn%3Ali%3AugcPost%3A…), so that a post read live
    and the same post imported from the export are one document."""
    match = _POST_URN.search(unquote(urn_or_link))
    if match is None:
        raise ValueError(f"not a LinkedIn post urn or link: {urn_or_link!r}")
    return f"{LINKEDIN}/feed/update/{quote(match.group(0), safe='')}"


def linkedin_post_time(urn: str) -> datetime | None:
    """When a post or activity was created: the top 41 bits of a LinkedIn id are
    milliseconds since the Unix epoch. None when the urn holds no such id."""
    match = _POST_URN.search(urn)
    if match is None:
        return None
    try:
        at = datetime.fromtimestamp((int(match.group(1)) >> 22) / 1000, UTC)
    except (OverflowError, OSError, ValueError):  # digits, but not a LinkedIn id
        return None
    return at if _LINKEDIN_EPOCH <= at <= datetime.now(UTC) else None


@dataclass(frozen=True, slots=True)
class LinkedInCredentials:
    """How a crawl signs in as the owner; secrets stay out of `repr` and logs.

    Simplest and safest is a browser session's cookies (no new login for LinkedIn to
    challenge): `li_at` and `JSESSIONID` (DevTools → Application → Cookies →
    www.linkedin.com), or a Netscape cookies.txt a browser extension exported. A username
    and password work too, but LinkedIn often answers a scripted login with a challenge."""

    username: str = ""
    password: str = field(default="", repr=False)
    li_at: str = field(default="", repr=False)
    jsessionid: str = field(default="", repr=False)
    cookies_file: Path | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> LinkedInCredentials | None:
        """From TWIN_LINKEDIN__COOKIES, else TWIN_LINKEDIN__USERNAME and
        TWIN_LINKEDIN__PASSWORD; None when none is set."""
        cookies = env.get(ENV_COOKIES, "").strip()
        if cookies:
            return cls.from_cookies(cookies)
        username, password = env.get(ENV_USERNAME, "").strip(), env.get(ENV_PASSWORD, "")
        if bool(username) != bool(password):
            raise ConfigError(f"set both {ENV_USERNAME} and {ENV_PASSWORD}, or {ENV_COOKIES}")
        return cls(username=username, password=password) if username else None

    @classmethod
    def from_cookies(cls, value: str) -> LinkedInCredentials:
        """A Cookie header's `li_at=…; JSESSIONID="ajax:…"`, or a cookies.txt path."""
        if "li_at=" not in value:
            return cls(cookies_file=Path(value).expanduser())
        pairs = dict(p.strip().partition("=")[::2] for p in value.split(";") if "=" in p)
        li_at, jsessionid = pairs.get("li_at", ""), pairs.get("JSESSIONID", "")
        if not (li_at and jsessionid):
            raise ConfigError(f"{ENV_COOKIES} needs both li_at=… and JSESSIONID=… cookies")
        return cls(li_at=li_at, jsessionid=jsessionid)


@dataclass(frozen=True, slots=True)
class _Member:
    public_id: str
    name: str
    profile_urn: str  # urn:li:fsd_profile:ACoA…, what the updates endpoint asks for
    member_urn: str  # urn:li:member:<n>, what a post's actor carries


@dataclass(frozen=True, slots=True)
class _Post:
    urn: str  # the activity as listed on the member's feed
    at: datetime | None
    own: bool  # the member's own activity (a post or a reshare), timed as the feed is ordered
    document: Document | None  # None: nothing to read (an image without a caption)


class _SignedOut(InputError):
    """The session LinkedIn was given is not (or no longer) signed in."""


class _Stopped(Exception):
    """The crawl was cancelled; raised at its next pause."""


class LinkedInExtractor:
    """A LinkedIn profile link → one document per post on the member's activity feed."""

    name: ClassVar[str] = "linkedin"
    description: ClassVar[str] = (
        "LinkedIn profiles (linkedin.com/in/you/): your posts, read with your own LinkedIn"
        f" session ({ENV_COOKIES}); the data export works without one"
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
        self._host = urlsplit(self._base_url).hostname or ""
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
                raise _Stopped
        try:
            pause = self._pause(stop)
            cookies, cached = self._sign_in(url, pause, use_cache=True)
            try:
                return self._read(url, public_id, seen, self._session(url, cookies, pause))
            except _SignedOut:
                if not cached:
                    raise
                log.info("the saved LinkedIn session is signed out; signing in again")
                cookies, _ = self._sign_in(url, pause, use_cache=False)
                return self._read(url, public_id, seen, self._session(url, cookies, pause))
        finally:
            _ONE_CRAWL.release()

    def _pause(self, stop: threading.Event) -> Callable[[], None]:
        """The pause taken before every request (linkedin-api's `evade` hook)."""
        sleep = self._sleep or stop.wait

        def pause() -> None:
            if stop.is_set():
                raise _Stopped
            sleep(random.uniform(*self._pacing))
            if stop.is_set():
                raise _Stopped

        return pause

    def _session(self, url: str, cookies: RequestsCookieJar, pause: Callable[[], None]) -> _Voyager:
        return _Voyager(url, cookies, self._base_url, pause, self._timeout)

    def _read(self, url: str, public_id: str, seen: Seen, voyager: _Voyager) -> Crawl:
        """Page through the member's feed until a post the last crawl had (or as old)."""
        member = _member(url, public_id, seen.state, voyager)
        newest_at = _parse_time(seen.state.get("newest_at"))
        known = {m.get(k) for m in seen.documents.values() for k in ("urn", "activity_urn")}
        posts: list[_Post] = []
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
                post = _post(element, member, url)
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
        if credentials.li_at:
            return self._jar(credentials.li_at, credentials.jsessionid), False
        if credentials.cookies_file is not None:
            return self._jar(*_read_cookies(credentials.cookies_file, url)), False
        saved = self._saved_session(credentials.username)
        if use_cache and saved is not None and saved.is_file():
            try:
                return self._jar(*_read_cookies(saved, url)), True
            except InputError:
                saved.unlink(missing_ok=True)
        elif saved is not None:
            saved.unlink(missing_ok=True)
        li_at, jsessionid = _login(self._base_url, credentials, pause, self._timeout, url)
        if saved is not None:
            _save_cookies(saved, self._host, li_at, jsessionid)
        return self._jar(li_at, jsessionid), False

    def _saved_session(self, username: str) -> Path | None:
        if self._session_dir is None:
            return None
        key = hashlib.sha256(username.strip().lower().encode()).hexdigest()[:16]
        return self._session_dir / f"linkedin-session-{key}.txt"

    def _jar(self, li_at: str, jsessionid: str) -> RequestsCookieJar:
        """The two cookies Voyager needs, for the host the library talks to."""
        from requests.cookies import RequestsCookieJar, create_cookie

        jar = RequestsCookieJar()
        secure = self._base_url.startswith("https:")
        jsessionid = f'"{jsessionid.strip(chr(34))}"'  # quoted, as browsers keep it
        for name, value in (("li_at", li_at), ("JSESSIONID", jsessionid)):
            jar.set_cookie(create_cookie(name, value, domain=self._host, secure=secure))
        return jar


class _Voyager:
    """One signed-in linkedin-api session for one crawl, with our pause as its pacing
    (passed per call through `Linkedin._fetch(evade=…)`, so other users of the library keep
    theirs), a timeout, no redirects (LinkedIn redirects a signed-out session to its login
    page) and LinkedIn's refusals turned into errors that say what to do."""

    def __init__(
        self,
        source: str,
        cookies: RequestsCookieJar,
        base_url: str,
        pause: Callable[[], None],
        timeout: float,
    ) -> None:
        from linkedin_api import Linkedin  # type: ignore[import-untyped]

        # `cookies=` skips the library's own login and its cookie cache in ~/.linkedin_api.
        self._api = Linkedin("", "", cookies=cookies, refresh_cookies=True)
        self._api.client.LINKEDIN_BASE_URL = base_url
        self._api.client.API_BASE_URL = f"{base_url}/voyager/api"
        self._source, self._pause, self._timeout = source, pause, timeout

    def get(self, uri: str, params: Mapping[str, Any]) -> Any:
        """The JSON of a Voyager GET; None for 404 and 410 (no such thing)."""
        import requests

        try:
            res = self._api._fetch(
                uri, evade=self._pause, params=params, timeout=self._timeout, allow_redirects=False
            )
        except requests.RequestException as exc:
            raise FetchError(self._source, f"could not reach LinkedIn: {exc}") from None
        try:
            body = res.json()
        except ValueError:
            body = None
        status = res.status_code
        if isinstance(body, dict) and isinstance(body.get("status"), int):
            status = body["status"] if status == 200 else status
        if status == 401 or 300 <= status < 400 or (status == 403 and "CSRF" in res.text):
            raise _SignedOut(self._source, f"{SIGNED_OUT} (HTTP {status})")
        if status in (429, 999):  # 999: LinkedIn's answer to requests it takes for a bot's
            raise FetchError(
                self._source,
                f"LinkedIn is refusing automated requests from this account for now (HTTP"
                f" {status}): try again in a few hours, or {EXPORT}",
            )
        if status in (404, 410):
            return None
        if status != 200 or body is None:
            raise FetchError(
                self._source, f"LinkedIn answered {uri} with HTTP {status}: try later, or {EXPORT}"
            )
        return body


def _login(
    base_url: str,
    credentials: LinkedInCredentials,
    pause: Callable[[], None],
    timeout: float,
    source: str,
) -> tuple[str, str]:
    """Sign in with a username and password the way linkedin-api does (its Client always
    talks to www.linkedin.com and keeps the session under ~/.linkedin_api, so its steps
    are taken here): /uas/authenticate gives a JSESSIONID, and a POST of the credentials
    with it gives li_at. Returns (li_at, JSESSIONID)."""
    import requests
    from linkedin_api.client import Client  # type: ignore[import-untyped]

    with requests.Session() as http:
        http.headers.update(Client.AUTH_REQUEST_HEADERS)
        try:
            pause()
            page = http.get(f"{base_url}/uas/authenticate", timeout=timeout)
            jsessionid = _cookie(http.cookies, "JSESSIONID")
            if not jsessionid:
                raise FetchError(
                    source,
                    f"LinkedIn's sign-in page (HTTP {page.status_code}) started no session:"
                    f" try later, set {ENV_COOKIES}, or {EXPORT}",
                )
            pause()
            res = http.post(
                f"{base_url}/uas/authenticate",
                data={
                    "session_key": credentials.username,
                    "session_password": credentials.password,
                    "JSESSIONID": jsessionid,
                },
                timeout=timeout,
            )
        except requests.RequestException as exc:
            raise FetchError(source, f"could not reach LinkedIn to sign in: {exc}") from None
        try:
            result = str(res.json().get("login_result", ""))
        except (ValueError, AttributeError):
            result = ""
        li_at, jsessionid = _cookie(http.cookies, "li_at"), _cookie(http.cookies, "JSESSIONID")
    if result == "PASS" and li_at and jsessionid:
        return li_at, jsessionid
    if result == "CHALLENGE":
        raise InputError(source, CHALLENGE)
    if result in _REFUSED_LOGINS:
        raise InputError(
            source,
            f"LinkedIn refused the username or password ({result}): check {ENV_USERNAME}"
            f" and {ENV_PASSWORD}, or set {ENV_COOKIES}; or {EXPORT}",
        )
    raise FetchError(
        source,
        f"LinkedIn's sign-in answered HTTP {res.status_code} ({result or 'no login result'}):"
        f" try later, set {ENV_COOKIES}, or {EXPORT}",
    )


def _cookie(cookies: Any, name: str) -> str:
    """The last cookie of that name (a jar may hold one per domain)."""
    values = [c.value for c in cookies if c.name == name and c.value]
    return str(values[-1]) if values else ""


def _read_cookies(path: Path, source: str) -> tuple[str, str]:
    """li_at and JSESSIONID from a Netscape cookies.txt."""
    jar = MozillaCookieJar(str(path))
    try:
        jar.load(ignore_discard=True, ignore_expires=True)
    except FileNotFoundError:
        raise InputError(source, f"the LinkedIn cookies file {path} does not exist") from None
    except (LoadError, OSError, UnicodeDecodeError) as exc:
        raise InputError(source, f"cannot read {path} as a cookies.txt file: {exc}") from None
    found: dict[str, Cookie] = {}
    for cookie in jar:
        if cookie.name in ("li_at", "JSESSIONID") and cookie.value:
            found[cookie.name] = cookie
    if set(found) != {"li_at", "JSESSIONID"}:
        raise InputError(
            source, f"{path} holds no li_at and JSESSIONID cookies: export them from a browser"
        )
    if (expires := found["li_at"].expires) is not None and 0 < expires < time.time():
        raise InputError(source, SIGNED_OUT)
    return str(found["li_at"].value), str(found["JSESSIONID"].value)


def _save_cookies(path: Path, host: str, li_at: str, jsessionid: str) -> None:
    """Keep a password login's session (mode 600) for the next crawl."""
    from requests.cookies import create_cookie

    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    jar = MozillaCookieJar(str(path))
    for name, value in (("li_at", li_at), ("JSESSIONID", jsessionid)):
        jar.set_cookie(create_cookie(name, value, domain=host, discard=False))
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    jar.save(ignore_discard=True, ignore_expires=True)


def _member(url: str, public_id: str, state: Mapping[str, Any], voyager: _Voyager) -> _Member:
    """Whose feed this is; remembered in the crawl state, so a recrawl asks only for posts."""
    if state.get("public_id") == public_id and state.get("profile_urn") and state.get("owner"):
        member_urn = str(state.get("member_urn") or "")
        return _Member(public_id, str(state["owner"]), str(state["profile_urn"]), member_urn)
    found = voyager.get(
        "/voyagerIdentityDashProfiles", {"q": "memberIdentity", "memberIdentity": public_id}
    )
    elements = found.get("elements") if isinstance(found, dict) else None
    profile = elements[0] if isinstance(elements, list) and elements else None
    if not isinstance(profile, dict) or not str(profile.get("entityUrn", "")):
        raise InputError(url, f"LinkedIn has no profile '{public_id}': check the link")
    name = " ".join(
        str(profile.get(key) or _dig(profile, f"multiLocale{key[0].upper()}{key[1:]}", "en_US"))
        for key in ("firstName", "lastName")
    ).strip()
    return _Member(
        public_id, name or public_id, str(profile["entityUrn"]), str(profile.get("objectUrn", ""))
    )


def _post(element: Any, member: _Member, source: str) -> _Post | None:
    """One feed element: the member's post, a reshare with their words (owned), or a repost
    of someone else's post (kept for search, not owned)."""
    update = _update(element)
    urn = _dig(update, "updateMetadata", "urn") or _urn_in(_dig(update, "entityUrn"))
    if not urn:
        return None
    actor_urn = _dig(update, "actor", "urn")
    mine = (  # the member's own activity, with a time that orders the feed
        actor_urn in (member.member_urn, member.profile_urn)
        if actor_urn
        else _dig(update, "actor", "name", "text") == member.name
    )
    at = _created(update, urn)
    shown, reshared = update, _update(update.get("resharedUpdate"))
    text = clean_text(_dig(update, "commentary", "text", "text"))
    if mine and not text and reshared:  # a repost: what shows is the other author's post
        shown = reshared
        text = clean_text(_dig(shown, "commentary", "text", "text"))
    if not text:
        return _Post(urn, at, mine, None)
    owned = mine and shown is update
    shown_urn = _dig(shown, "updateMetadata", "urn") or urn
    share_urn = _dig(shown, "updateMetadata", "shareUrn")
    post_urn = share_urn if _POST_URN.fullmatch(share_urn) else shown_urn
    meta = {"urn": post_urn, "activity_urn": shown_urn}
    if reshared and shown is update:
        meta["reshared_urn"] = _dig(reshared, "updateMetadata", "urn")
    document = Document(
        url=linkedin_post_url(post_urn),
        platform="linkedin",
        title=_title(text),
        text=text,
        author=member.name if owned else _dig(shown, "actor", "name", "text"),
        published_at=at if shown is update else _created(shown, shown_urn),
        source_url=source,
        owned=owned,
        meta={key: value for key, value in meta.items() if value},
    )
    return _Post(urn, at, mine, document)


def _update(element: Any) -> dict[str, Any]:
    """An UpdateV2, bare or wrapped in Rest.li's union form."""
    if not isinstance(element, dict):
        return {}
    wrapped = _dig_any(element, "value", "com.linkedin.voyager.feed.render.UpdateV2")
    return wrapped if isinstance(wrapped, dict) else element


def _created(update: Mapping[str, Any], urn: str) -> datetime | None:
    stamp = update.get("createdAt") or update.get("firstPublishedAt")
    if isinstance(stamp, int) and stamp > 0:
        return datetime.fromtimestamp(stamp / 1000, UTC)
    return linkedin_post_time(urn)


def _urn_in(entity_urn: str) -> str:
    match = re.search(r"urn:li:activity:\d+", entity_urn)
    return match.group(0) if match else ""


def _title(text: str) -> str:
    """The first line, cut at a word: as the export reader titles the same post, so that
    both give it one content hash."""
    first = next((line.strip() for line in text.split("\n") if line.strip()), "")
    first = first.lstrip("#>-* ").strip() or first
    if len(first) <= _TITLE_CHARS:
        return first
    cut = first[: _TITLE_CHARS - 1].rsplit(" ", 1)[0] or first[: _TITLE_CHARS - 1]
    return cut.rstrip(" ,;:-–—") + "…"


def _at_or_before(at: datetime | None, newest: datetime | None) -> bool:
    return at is not None and newest is not None and at <= newest


def _state(member: _Member, previous: Mapping[str, Any], posts: list[_Post]) -> dict[str, Any]:
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


def _dig(data: Any, *keys: str) -> str:
    value = _dig_any(data, *keys)
    return value if isinstance(value, str) else ""


def _dig_any(data: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data
