"""The one way out to the network.

Every link the owner drops comes through `Fetcher.fetch`: URL checks, the SSRF guard on
every hop, timeouts, a size cap, retries with backoff, per-host politeness, content-type
checks and charset decoding. Every failure is a `FetchError` naming the URL and the fix.
"""

from __future__ import annotations

import asyncio
import errno
import random
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from urllib.parse import urljoin, urlsplit

import aiohttp
from multidict import CIMultiDict, CIMultiDictProxy

from core.errors import FetchError, InputError
from ingest.content import (
    DEFAULT_ACCEPT,
    FEED_TYPES,
    HTML_TYPES,
    TEXT_TYPES,
    check_type,
    decode_charset,
    is_textual,
    parse_content_type,
    retry_after_seconds,
    sniff,
)
from ingest.settings import FetchPolicy
from ingest.ssrf import (
    AddressPolicy,
    BlockedAddressError,
    GuardedResolver,
    guarded_socket_factory,
    literal_ip,
    refusal_reason,
)
from ingest.urls import normalize_url

__all__ = ["DEFAULT_ACCEPT", "FEED_TYPES", "HTML_TYPES", "TEXT_TYPES"]
__all__ += ["FetchedPage", "Fetcher", "HTTPStatusError"]

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
_RESET_ERRNOS = frozenset({errno.ECONNRESET, errno.EPIPE, errno.ECONNABORTED})
_PRIVATE_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization"})
_CHUNK = 64 * 1024


@dataclass(frozen=True, slots=True)
class FetchedPage:
    url: str  # as requested
    final_url: str  # after redirects
    status: int
    content_type: str  # bare mime type, lowercased
    encoding: str  # the codec the body decoded with; "" for accepted binary types
    body: bytes = field(repr=False)
    headers: Mapping[str, str] = field(repr=False, compare=False)  # case-insensitive

    def text(self) -> str:
        if not self.encoding:
            raise FetchError(self.url, f"{self.content_type} is binary; it has no text")
        return self.body.decode(self.encoding, errors="replace")

    @property
    def is_html(self) -> bool:
        return self.content_type in HTML_TYPES

    @property
    def is_feed(self) -> bool:
        return self.content_type in FEED_TYPES


class HTTPStatusError(FetchError):
    """The server answered with an error status. `status` and `headers` are the last
    response's, for callers that read an API's error headers (rate limits, for one)."""

    def __init__(self, source: str, reason: str, status: int, headers: Mapping[str, str]) -> None:
        super().__init__(source, reason)
        self.status = status
        self.headers = headers


class _Retry(Exception):
    """A transient failure; `fetch` waits and tries again while attempts remain."""

    def __init__(
        self,
        reason: str,
        retry_after: float | None = None,
        response: aiohttp.ClientResponse | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after
        self.status = response.status if response is not None else 0
        self.headers = _headers(response) if response is not None else None

    def error(self, url: str, reason: str) -> FetchError:
        if self.headers is None:  # a connection failure: there was no response
            return FetchError(url, reason)
        return HTTPStatusError(url, reason, self.status, self.headers)


class Fetcher:
    def __init__(self, policy: FetchPolicy | None = None) -> None:
        self.policy = policy or FetchPolicy()
        self.address_policy = AddressPolicy(
            self.policy.allow_private_networks, self.policy.allowed_networks
        )
        self._session: aiohttp.ClientSession | None = None
        self._host_slots: dict[str, asyncio.Semaphore] = {}

    async def __aenter__(self) -> Fetcher:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _open_session(self) -> aiohttp.ClientSession:
        # Created on first use, inside the running loop that will own it.
        if self._session is None or self._session.closed:
            p = self.policy
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(
                    resolver=GuardedResolver(self.address_policy),
                    socket_factory=guarded_socket_factory(self.address_policy),
                ),
                timeout=aiohttp.ClientTimeout(
                    total=p.total_timeout, sock_connect=p.connect_timeout, sock_read=p.read_timeout
                ),
                headers={"User-Agent": p.user_agent},
                cookie_jar=aiohttp.DummyCookieJar(),  # no state leaks from one fetch to the next
                trust_env=False,  # an env proxy would connect for us, past the SSRF guard
            )
        return self._session

    async def fetch(
        self,
        url: str,
        *,
        accept: Collection[str] = DEFAULT_ACCEPT,
        headers: Mapping[str, str] | None = None,
    ) -> FetchedPage:
        try:
            current = normalize_url(url)
        except InputError as exc:
            raise FetchError(url, exc.reason) from None
        request_headers = {"Accept": ", ".join(sorted(accept)), **(headers or {})}
        for hop in range(self.policy.max_redirects + 1):
            outcome = await self._fetch_hop(
                url, current, request_headers, accept, current if hop else None
            )
            if isinstance(outcome, FetchedPage):
                return outcome
            try:
                target = normalize_url(outcome)
            except InputError as exc:
                raise FetchError(url, f"redirect to {outcome} refused: {exc.reason}") from None
            if urlsplit(target).hostname != urlsplit(current).hostname:
                request_headers = {
                    k: v for k, v in request_headers.items() if k.lower() not in _PRIVATE_HEADERS
                }
            current = target
        raise FetchError(url, f"too many redirects (more than {self.policy.max_redirects})")

    async def _fetch_hop(
        self,
        url: str,
        current: str,
        headers: Mapping[str, str],
        accept: Collection[str],
        redirect_to: str | None,
    ) -> FetchedPage | str:
        """One URL, with retries: the page, or the Location it redirects to."""
        host = urlsplit(current).hostname or ""
        ip = literal_ip(host)
        if ip is not None:  # IP literals never reach the resolver, so check them here
            self.address_policy.check(ip, host, url, redirect_to=redirect_to)
        slot = self._host_slots.get(host)
        if slot is None:
            slot = self._host_slots[host] = asyncio.Semaphore(self.policy.per_host_concurrency)
        attempt = 0
        while True:
            try:
                async with slot:
                    return await self._attempt(url, current, headers, accept, redirect_to)
            except _Retry as retry:
                if attempt >= self.policy.retries:
                    reason = f"{retry.reason} (gave up after {attempt + 1} attempts)"
                    raise retry.error(url, reason) from None
                await asyncio.sleep(self._retry_delay(url, attempt, retry))
                attempt += 1

    def _retry_delay(self, url: str, attempt: int, retry: _Retry) -> float:
        p = self.policy
        if retry.retry_after is None:
            return p.backoff_base * 2.0**attempt * random.uniform(0.5, 1.5)
        if retry.retry_after > p.max_retry_after:
            # Capped so an absurd header cannot overflow the date arithmetic.
            when = datetime.now(UTC) + timedelta(seconds=min(retry.retry_after, 1e7))
            raise retry.error(
                url,
                f"{retry.reason}; the server asks to wait {retry.retry_after:.0f} s, longer than"
                f" ingest.max_retry_after ({p.max_retry_after:g} s): try again after"
                f" {when:%Y-%m-%d %H:%M} UTC",
            )
        return retry.retry_after

    async def _attempt(
        self,
        url: str,
        current: str,
        headers: Mapping[str, str],
        accept: Collection[str],
        redirect_to: str | None,
    ) -> FetchedPage | str:
        session = self._open_session()
        try:
            async with session.get(current, headers=headers, allow_redirects=False) as resp:
                return await self._handle(url, current, resp, accept)
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise self._translate(url, current, exc, redirect_to) from None

    async def _handle(
        self, url: str, current: str, resp: aiohttp.ClientResponse, accept: Collection[str]
    ) -> FetchedPage | str:
        status = resp.status
        if status in _REDIRECTS:
            location = resp.headers.get("Location")
            if not location:
                raise FetchError(url, f"{_http_status(resp)} redirect without a Location header")
            try:
                return urljoin(current, location)
            except ValueError:  # e.g. unbalanced IPv6 brackets
                raise FetchError(url, f"redirect to a malformed URL {location!r}") from None
        if status in _RETRY_STATUSES:
            retry_after = retry_after_seconds(resp.headers.get("Retry-After"))
            raise _Retry(_http_status(resp), retry_after, resp)
        mime, declared = parse_content_type(resp.headers.get("Content-Type", ""))
        if status == 304:  # the caller sent If-None-Match/If-Modified-Since: nothing new
            return _page(url, current, resp, mime, "utf-8", b"")
        if not 200 <= status < 300:
            reason = _http_status(resp) + _STATUS_HINTS.get(status, "")
            raise HTTPStatusError(url, reason, status, _headers(resp))
        if mime:  # before downloading anything
            check_type(url, mime, accept)
        body = await self._read_body(url, resp)
        if not mime:
            sniffed = sniff(body)
            if sniffed is None:
                reason = "no Content-Type header and the body does not look like a page or feed"
                raise FetchError(url, reason)
            check_type(url, sniffed, accept)
            mime = sniffed
        if not is_textual(mime):
            return _page(url, current, resp, mime, "", body)  # an accepted binary type
        return _page(url, current, resp, mime, decode_charset(url, body, declared), body)

    async def _read_body(self, url: str, resp: aiohttp.ClientResponse) -> bytes:
        limit = self.policy.max_bytes
        too_big = f"response larger than {_size(limit)} limit (ingest.max_bytes)"
        if resp.content_length is not None and resp.content_length > limit:
            resp.close()  # refuse before reading a byte of it
            raise FetchError(url, too_big)
        body = bytearray()
        async for chunk in resp.content.iter_chunked(_CHUNK):
            body += chunk  # decompressed bytes, so a gzip bomb hits the cap as well
            if len(body) > limit:
                resp.close()  # drop the connection rather than drain the rest
                raise FetchError(url, too_big)
        return bytes(body)

    def _translate(
        self, url: str, current: str, exc: BaseException, redirect_to: str | None
    ) -> Exception:
        """aiohttp/OS errors → FetchError (or _Retry for a reset connection)."""
        parts = urlsplit(current)
        host = parts.hostname or ""
        where = f"{host}:{parts.port or (443 if parts.scheme == 'https' else 80)}"
        p = self.policy
        cause = getattr(exc, "os_error", exc)
        if isinstance(cause, BlockedAddressError):
            return FetchError(url, refusal_reason(cause.ip, host, cause.kind, redirect_to))
        if isinstance(exc, aiohttp.ClientConnectorDNSError):
            return FetchError(url, f"DNS lookup failed for host '{host}' (is the link right?)")
        if isinstance(exc, aiohttp.ConnectionTimeoutError):
            return FetchError(url, f"timed out after {p.connect_timeout} s connecting to {where}")
        if isinstance(exc, aiohttp.SocketTimeoutError):
            return FetchError(url, f"timed out after {p.read_timeout} s waiting for a response")
        if isinstance(exc, TimeoutError):
            return FetchError(url, f"timed out after {p.total_timeout} s (ingest.total_timeout)")
        if isinstance(exc, aiohttp.ClientSSLError):
            return FetchError(url, f"TLS handshake with {where} failed: {_one_line(exc)}")
        if isinstance(exc, aiohttp.ClientConnectorError):
            if exc.os_error.errno == errno.ECONNREFUSED:
                return FetchError(url, f"connection refused by {where}")
            return FetchError(url, f"cannot connect to {where}: {exc.strerror or exc.os_error}")
        if isinstance(exc, aiohttp.ServerDisconnectedError | aiohttp.ClientPayloadError) or (
            isinstance(exc, OSError) and exc.errno in _RESET_ERRNOS
        ):
            return _Retry(f"connection reset by {where}")
        return FetchError(url, f"request to {where} failed: {_one_line(exc)}")


_STATUS_HINTS = {
    401: " (the page needs a login; use a platform export instead)",
    403: " (the site refuses us; it may need a login or block bots)",
    410: " (the page was removed)",
}


def _http_status(resp: aiohttp.ClientResponse) -> str:
    try:
        phrase = resp.reason or HTTPStatus(resp.status).phrase
    except ValueError:
        phrase = ""
    return f"HTTP {resp.status} {phrase}".rstrip()


def _one_line(exc: BaseException) -> str:
    return " ".join(f"{type(exc).__name__}: {exc}".split())


def _page(
    url: str, final_url: str, resp: aiohttp.ClientResponse, mime: str, enc: str, body: bytes
) -> FetchedPage:
    return FetchedPage(
        url=url,
        final_url=final_url,  # normalized like every URL we store, not yarl's re-quoting
        status=resp.status,
        content_type=mime,
        encoding=enc,
        body=body,
        headers=_headers(resp),
    )


def _headers(resp: aiohttp.ClientResponse) -> CIMultiDictProxy[str]:
    return CIMultiDictProxy(CIMultiDict(resp.headers))


def _size(n: int) -> str:
    if n >= 1024 * 1024:
        return f"{n / 1024 / 1024:.1f} MB"
    return f"{n / 1024:.1f} KB" if n >= 1024 else f"{n} bytes"
