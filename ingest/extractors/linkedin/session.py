"""A crawl's signed-in LinkedIn session: the pause before every request, signing in (a
browser's cookies, or a username/password login whose session is kept for the next crawl)
and `Voyager`, the linkedin-api client that reads with it. linkedin-api and requests are
imported only when a crawl runs: the `linkedin` extra is optional."""

from __future__ import annotations

import hashlib
import random
import threading
from collections.abc import Callable, Mapping
from http.cookiejar import MozillaCookieJar
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from core.errors import FetchError, InputError
from ingest.extractors.linkedin.credentials import (
    CHALLENGE,
    ENV_COOKIES,
    ENV_PASSWORD,
    ENV_USERNAME,
    EXPORT,
    SIGNED_OUT,
    LinkedInCredentials,
    read_cookies,
)

if TYPE_CHECKING:
    from requests.cookies import RequestsCookieJar

__all__ = ["SignedOut", "Stopped", "Voyager", "pacer", "sign_in"]

_REFUSED_LOGINS = frozenset({"BAD_PASSWORD", "BAD_EMAIL", "BAD_USERNAME_OR_PASSWORD"})


class SignedOut(InputError):
    """The session LinkedIn was given is not (or no longer) signed in."""


class Stopped(Exception):
    """The crawl was cancelled; raised at its next pause."""


def pacer(
    pacing: tuple[float, float], sleep: Callable[[float], None] | None, stop: threading.Event
) -> Callable[[], None]:
    """The pause taken before every request (linkedin-api's `evade` hook): a random wait
    within `pacing`, taken with `sleep` (default: a wait that `stop` cuts short)."""
    wait = sleep or stop.wait

    def pause() -> None:
        if stop.is_set():
            raise Stopped
        wait(random.uniform(*pacing))
        if stop.is_set():
            raise Stopped

    return pause


def sign_in(
    credentials: LinkedInCredentials,
    url: str,
    pause: Callable[[], None],
    *,
    base_url: str,
    session_dir: Path | None,
    timeout: float,
    use_cache: bool,
) -> tuple[RequestsCookieJar, bool]:
    """The session's cookies, and whether they came from the saved session (the one a
    username/password login kept in `session_dir`)."""
    if credentials.li_at:
        return _jar(base_url, credentials.li_at, credentials.jsessionid), False
    if credentials.cookies_file is not None:
        return _jar(base_url, *read_cookies(credentials.cookies_file, url)), False
    saved = _saved_session(session_dir, credentials.username)
    if use_cache and saved is not None and saved.is_file():
        try:
            return _jar(base_url, *read_cookies(saved, url)), True
        except InputError:
            saved.unlink(missing_ok=True)
    elif saved is not None:
        saved.unlink(missing_ok=True)
    li_at, jsessionid = _login(base_url, credentials, pause, timeout, url)
    if saved is not None:
        _save_cookies(saved, _host(base_url), li_at, jsessionid)
    return _jar(base_url, li_at, jsessionid), False


def _host(base_url: str) -> str:
    return urlsplit(base_url).hostname or ""


def _saved_session(session_dir: Path | None, username: str) -> Path | None:
    if session_dir is None:
        return None
    key = hashlib.sha256(username.strip().lower().encode()).hexdigest()[:16]
    return session_dir / f"linkedin-session-{key}.txt"


def _jar(base_url: str, li_at: str, jsessionid: str) -> RequestsCookieJar:
    """The two cookies Voyager needs, for the host the library talks to."""
    from requests.cookies import RequestsCookieJar, create_cookie

    jar = RequestsCookieJar()
    host, secure = _host(base_url), base_url.startswith("https:")
    jsessionid = f'"{jsessionid.strip(chr(34))}"'  # quoted, as browsers keep it
    for name, value in (("li_at", li_at), ("JSESSIONID", jsessionid)):
        jar.set_cookie(create_cookie(name, value, domain=host, secure=secure))
    return jar


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


class Voyager:
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
            raise SignedOut(self._source, f"{SIGNED_OUT} (HTTP {status})")
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
