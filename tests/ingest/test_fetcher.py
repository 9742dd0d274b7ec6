"""The fetcher against real HTTP servers on loopback.

`LocalServer` (the `server` fixture) serves most cases; a tiny raw-socket server covers what
aiohttp's server will not do (omit Content-Type, drop a connection, listen on 127.0.0.2).
"""

from __future__ import annotations

import asyncio
import random
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult

from core.errors import FetchError
from ingest.content import retry_after_seconds
from ingest.fetcher import FEED_TYPES, FetchedPage, Fetcher, HTTPStatusError
from ingest.settings import FetchPolicy
from ingest.ssrf import AddressPolicy, BlockedAddressError, GuardedResolver
from tests.http_server import LocalServer

LOOPBACK_ONLY = ("127.0.0.1/32",)


def policy(**overrides: Any) -> FetchPolicy:
    """Allows exactly 127.0.0.1, with timeouts and backoff small enough for a fast suite."""
    settings: dict[str, Any] = {
        "allowed_networks": LOOPBACK_ONLY,
        "connect_timeout": 2.0,
        "read_timeout": 2.0,
        "backoff_base": 0.01,
    }
    settings.update(overrides)
    return FetchPolicy(**settings)


async def fetch(url: str, **overrides: Any) -> FetchedPage:
    async with Fetcher(policy(**overrides)) as fetcher:
        return await fetcher.fetch(url)


async def fetch_error(url: str, fetch_policy: FetchPolicy | None = None) -> FetchError:
    async with Fetcher(fetch_policy or policy()) as fetcher:
        with pytest.raises(FetchError) as caught:
            await fetcher.fetch(url)
    error = caught.value
    assert error.source == url and url in str(error)
    assert "\n" not in error.reason
    return error


@dataclass
class RawServer:
    """Answers the i-th connection with responses[i] (None: close without answering)."""

    responses: list[bytes | None]
    port: int = 0
    connections: int = 0
    requests: list[bytes] = field(default_factory=list)


@asynccontextmanager
async def raw_server(host: str, *responses: bytes | None) -> AsyncIterator[RawServer]:
    state = RawServer(list(responses))

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        index = state.connections
        state.connections += 1
        state.requests.append(await reader.readuntil(b"\r\n\r\n"))
        answer = state.responses[min(index, len(state.responses) - 1)]
        if answer is not None:
            writer.write(answer)
            await writer.drain()
        writer.close()

    srv = await asyncio.start_server(handle, host, 0)
    state.port = srv.sockets[0].getsockname()[1]
    try:
        yield state
    finally:
        srv.close()
        await srv.wait_closed()


def http_response(body: bytes, *header_lines: str) -> bytes:
    head = ["HTTP/1.1 200 OK", f"Content-Length: {len(body)}", "Connection: close", *header_lines]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


# --- success and redirects ------------------------------------------------------------


async def test_fetch_follows_redirect_and_reports_final_url(server: LocalServer) -> None:
    seen: dict[str, str] = {}

    async def article(request: web.Request) -> web.Response:
        seen.update(request.headers)
        return web.Response(
            text="<html><body>héllo</body></html>",
            content_type="text/html",
            headers={"ETag": '"v1"'},
        )

    async def moved(request: web.Request) -> web.Response:
        raise web.HTTPMovedPermanently("/article")

    server.route("/article", article)
    start = server.route("/old", moved)

    page = await fetch(start + "#comments")

    assert page.url == start + "#comments"
    assert page.final_url == server.url("/article")
    assert (page.status, page.content_type, page.encoding) == (200, "text/html", "utf-8")
    assert page.text() == "<html><body>héllo</body></html>"
    assert page.is_html and not page.is_feed
    assert page.headers["etag"] == page.headers["ETag"] == '"v1"'
    assert seen["User-Agent"].startswith("llm-twin/")
    assert "text/html" in seen["Accept"]


async def test_redirect_chain_longer_than_max_fails(server: LocalServer) -> None:
    async def hop(request: web.Request) -> web.Response:
        raise web.HTTPFound(f"/hop{int(request.path[4:]) + 1}")

    for n in range(10):
        server.route(f"/hop{n}", hop)

    error = await fetch_error(server.url("/hop0"), policy(max_redirects=3))

    assert error.reason == "too many redirects (more than 3)"
    assert sum(server.hits.values()) == 4  # the first request and three redirects


async def test_redirect_to_another_loopback_address_is_refused_without_connecting(
    server: LocalServer,
) -> None:
    async with raw_server("127.0.0.2", http_response(b"secret", "Content-Type: text/plain")) as lo:

        async def to_other(request: web.Request) -> web.Response:
            raise web.HTTPFound(f"http://127.0.0.2:{lo.port}/admin")

        start = server.route("/start", to_other)

        error = await fetch_error(start)
        assert "redirect to a loopback address 127.0.0.2 refused" in error.reason
        assert "ingest.allow_private_networks" in error.reason
        assert lo.connections == 0

        # Control: the listener is reachable when policy allows it, so the 0 above means
        # the guard stopped us, not that nothing was there.
        page = await fetch(start, allowed_networks=("127.0.0.0/8",))
        assert page.text() == "secret" and lo.connections == 1


async def test_socket_factory_backstop_refuses_even_if_the_literal_check_is_skipped(
    server: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("ingest.fetcher.literal_ip", lambda host: None)  # simulate a bug
    async with raw_server("127.0.0.2", http_response(b"secret", "Content-Type: text/plain")) as lo:

        async def to_other(request: web.Request) -> web.Response:
            raise web.HTTPFound(f"http://127.0.0.2:{lo.port}/admin")

        error = await fetch_error(server.route("/start", to_other))

        assert "a loopback address 127.0.0.2 refused" in error.reason
        assert lo.connections == 0


@pytest.mark.parametrize(
    ("location", "fragment"),
    [
        ("http://10.1.2.3/", "redirect to a private address 10.1.2.3 refused"),
        ("http://169.254.169.254/latest/meta-data/", "link-local address 169.254.169.254"),
        ("http://[::ffff:127.0.0.2]/", "IPv6-wrapped loopback address ::ffff:7f00:2"),
        ("file:///etc/passwd", "redirect to file:///etc/passwd refused: unsupported scheme"),
        ("gopher://127.0.0.1:25/", "unsupported scheme 'gopher:'"),
        ("http://2130706433/", "numeric host '2130706433'"),
    ],
)
async def test_redirect_to_forbidden_target_is_refused(
    server: LocalServer, location: str, fragment: str
) -> None:
    async def away(request: web.Request) -> web.Response:
        raise web.HTTPFound(location)

    error = await fetch_error(server.route("/away", away))

    assert fragment in error.reason


async def test_direct_loopback_url_refused_by_default_policy(server: LocalServer) -> None:
    url = server.page("/private", "<html>admin</html>")

    error = await fetch_error(url, FetchPolicy())

    assert "connection to a loopback address 127.0.0.1 refused" in error.reason
    assert "set ingest.allow_private_networks to allow" in error.reason
    assert server.hits == {}


async def test_localhost_hostname_refused_by_the_resolver(server: LocalServer) -> None:
    server.page("/private", "<html>admin</html>")
    url = f"http://localhost:{server.port}/private"

    error = await fetch_error(url, FetchPolicy())

    assert "host 'localhost', which resolves to a loopback address" in error.reason
    assert server.hits == {}


async def test_allow_private_networks_lets_loopback_through(server: LocalServer) -> None:
    url = server.page("/private", "<html>ok</html>")

    page = await fetch(url, allowed_networks=(), allow_private_networks=True)

    assert page.status == 200


# --- network failures -----------------------------------------------------------------


async def test_dns_failure_is_reported_with_the_host() -> None:
    error = await fetch_error("http://nonexistent.invalid/")

    assert "DNS lookup failed for host 'nonexistent.invalid'" in error.reason


async def test_refused_connection() -> None:
    with socket.socket() as sock:  # a port that was free a moment ago and has no listener
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]

    error = await fetch_error(f"http://127.0.0.1:{port}/")

    assert error.reason == f"connection refused by 127.0.0.1:{port}"


async def test_read_timeout(server: LocalServer) -> None:
    release = asyncio.Event()

    async def stalled(request: web.Request) -> web.Response:
        await release.wait()
        return web.Response(text="late", content_type="text/html")

    url = server.route("/slow", stalled)
    try:
        error = await fetch_error(url, policy(read_timeout=0.3))
    finally:
        release.set()

    assert error.reason == "timed out after 0.3 s waiting for a response"


async def test_trickling_body_hits_the_overall_cap(server: LocalServer) -> None:
    async def trickle(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/html"})
        await response.prepare(request)
        try:
            for _ in range(100):  # never silent long enough for the read timeout
                await response.write(b"<p>")
                await asyncio.sleep(0.05)
        except ConnectionError:
            pass
        return response

    url = server.route("/trickle", trickle)
    error = await fetch_error(url, policy(total_timeout=0.5, read_timeout=2.0))

    assert error.reason == "timed out after 0.5 s (ingest.total_timeout)"


async def test_connection_reset_is_retried() -> None:
    ok = http_response(b"<html>back</html>", "Content-Type: text/html")
    async with raw_server("127.0.0.1", None, ok) as raw:
        page = await fetch(f"http://127.0.0.1:{raw.port}/")

    assert page.text() == "<html>back</html>"
    assert raw.connections == 2


async def test_not_found_is_not_retried(server: LocalServer) -> None:
    error = await fetch_error(server.url("/missing"))

    assert error.reason == "HTTP 404 Not Found"
    assert server.hits == {"/missing": 1}


async def test_error_status_carries_the_status_and_headers(server: LocalServer) -> None:
    # An API's error answers say why in their headers (GitHub's rate limit, for one).
    url = server.page(
        "/limited", '{"message": "no"}', "application/json", status=403, headers={"X-Left": "0"}
    )

    error = await fetch_error(url)

    assert isinstance(error, HTTPStatusError)
    assert (error.status, error.headers["x-left"]) == (403, "0")
    assert error.reason.startswith("HTTP 403 Forbidden")


async def test_retried_status_that_gives_up_carries_the_last_response(
    server: LocalServer,
) -> None:
    async def busy(request: web.Request) -> web.Response:
        return web.Response(status=429, headers={"X-Attempt": str(server.hits["/busy"])})

    error = await fetch_error(server.route("/busy", busy), policy(retries=1))

    assert isinstance(error, HTTPStatusError)
    assert (error.status, error.headers["X-Attempt"]) == (429, "2")
    assert "gave up after 2 attempts" in error.reason


async def test_connection_failure_is_not_a_status_error() -> None:
    async with raw_server("127.0.0.1", None) as raw:
        error = await fetch_error(f"http://127.0.0.1:{raw.port}/", policy(retries=0))

    assert not isinstance(error, HTTPStatusError)
    assert "connection reset" in error.reason


async def test_server_error_is_retried_then_fails(server: LocalServer) -> None:
    url = server.page("/broken", "oops", status=500)

    error = await fetch_error(url, policy(retries=2))

    assert "HTTP 500 Internal Server Error" in error.reason
    assert "gave up after 3 attempts" in error.reason
    assert server.hits == {"/broken": 3}


async def test_rate_limit_with_retry_after_zero_then_success(server: LocalServer) -> None:
    async def limited(request: web.Request) -> web.Response:
        if server.hits["/limited"] == 1:
            return web.Response(status=429, headers={"Retry-After": "0"})
        return web.Response(text="<html>ok</html>", content_type="text/html")

    page = await fetch(server.route("/limited", limited))

    assert page.status == 200 and server.hits == {"/limited": 2}


@pytest.mark.parametrize("retry_after", ["3600", "Wed, 21 Oct 2099 07:28:00 GMT"])
async def test_retry_after_beyond_the_limit_fails_with_when_to_retry(
    server: LocalServer, retry_after: str
) -> None:
    url = server.page("/busy", "busy", status=503, headers={"Retry-After": retry_after})

    error = await fetch_error(url, policy(max_retry_after=5.0))

    assert error.reason.startswith("HTTP 503 Service Unavailable; the server asks to wait")
    assert "longer than ingest.max_retry_after (5 s): try again after" in error.reason
    assert isinstance(error, HTTPStatusError) and error.headers["Retry-After"] == retry_after
    assert server.hits == {"/busy": 1}


async def test_not_modified_returns_empty_304(server: LocalServer) -> None:
    async def conditional(request: web.Request) -> web.Response:
        if request.headers.get("If-None-Match") == '"v1"':
            return web.Response(status=304, headers={"ETag": '"v1"'})
        return web.Response(text="<html>v1</html>", content_type="text/html")

    url = server.route("/cond", conditional)
    async with Fetcher(policy()) as fetcher:
        page = await fetcher.fetch(url, headers={"If-None-Match": '"v1"'})

    assert (page.status, page.body, page.text()) == (304, b"", "")
    assert page.headers["ETag"] == '"v1"'


# --- size and type checks -------------------------------------------------------------


async def test_oversize_streamed_body_is_aborted(server: LocalServer) -> None:
    written = 0
    done = asyncio.Event()

    async def endless(request: web.Request) -> web.StreamResponse:
        nonlocal written
        response = web.StreamResponse(headers={"Content-Type": "text/html"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        try:
            while written < 64 * 1024 * 1024:
                await response.write(b"<p>" + b"x" * 4093)
                written += 4096
        except ConnectionError:
            pass  # the client hung up: what we want
        finally:
            done.set()
        return response

    error = await fetch_error(server.route("/endless", endless), policy(max_bytes=16 * 1024))
    await asyncio.wait_for(done.wait(), 5)

    assert error.reason == "response larger than 16.0 KB limit (ingest.max_bytes)"
    assert written < 64 * 1024 * 1024


async def test_oversize_content_length_is_rejected_before_reading(server: LocalServer) -> None:
    release = asyncio.Event()

    async def huge(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/html"})
        response.content_length = 50 * 1024 * 1024
        await response.prepare(request)
        await response.write(b"<html>")
        await release.wait()  # the rest never comes: reading it would time out instead
        return response

    try:
        error = await fetch_error(server.route("/huge", huge), policy(read_timeout=5.0))
    finally:
        release.set()

    assert error.reason == "response larger than 10.0 MB limit (ingest.max_bytes)"


@pytest.mark.parametrize(
    ("content_type", "fragment"),
    [
        ("image/png", "binary content (image/png); only web pages, feeds and text can be"),
        ("application/octet-stream", "binary content (application/octet-stream)"),
        ("application/json", "unsupported content type application/json; expected"),
    ],
)
async def test_unwanted_content_type_rejected(
    server: LocalServer, content_type: str, fragment: str
) -> None:
    url = server.page("/thing", b"\x89PNG\r\n\x1a\n", content_type=content_type, charset=None)

    error = await fetch_error(url)

    assert fragment in error.reason


async def test_accept_narrows_the_content_types(server: LocalServer) -> None:
    url = server.page("/page", "<html>not a feed</html>")

    async with Fetcher(policy()) as fetcher:
        with pytest.raises(FetchError) as caught:
            await fetcher.fetch(url, accept=FEED_TYPES)
        plain = await fetcher.fetch(server.page("/notes.txt", "notes", content_type="text/plain"))

    assert "unsupported content type text/html; expected application/atom+xml" in str(caught.value)
    assert (plain.content_type, plain.text()) == ("text/plain", "notes")


async def test_accept_opens_json_when_asked(server: LocalServer) -> None:
    # Off by default (see above); an API client asks for it and gets decoded text.
    url = server.page("/api", '{"name": "caf\u00e9"}', content_type="application/json")

    async with Fetcher(policy()) as fetcher:
        page = await fetcher.fetch(url, accept={"application/json"})

    assert (page.content_type, page.text()) == ("application/json", '{"name": "café"}')


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"<!DOCTYPE html><html><body>hi</body></html>", "text/html"),
        (b'<?xml version="1.0"?><rss version="2.0"><channel/></rss>', "application/rss+xml"),
        (b'<feed xmlns="http://www.w3.org/2005/Atom"></feed>', "application/atom+xml"),
    ],
)
async def test_missing_content_type_is_sniffed(body: bytes, content_type: str) -> None:
    async with raw_server("127.0.0.1", http_response(body)) as raw:
        page = await fetch(f"http://127.0.0.1:{raw.port}/")

    assert page.content_type == content_type
    assert page.body == body


async def test_missing_content_type_and_unrecognisable_body_rejected() -> None:
    async with raw_server("127.0.0.1", http_response(b"\x00\x01 just some bytes")) as raw:
        error = await fetch_error(f"http://127.0.0.1:{raw.port}/")

    assert "no Content-Type header" in error.reason


# --- charsets -------------------------------------------------------------------------

FRENCH = (
    "<p>Le café est une boisson très appréciée en France. Les Français aiment s’asseoir en "
    "terrasse, où ils discutent de l’actualité, de la météo et des événements de la journée. "
    "À Paris, on trouve des cafés à chaque coin de rue — certains sont célèbres, d’autres très "
    "discrets. « C’est là que tout se passe », disent les habitués.</p>"
)


async def test_charset_declared_only_in_meta(server: LocalServer) -> None:
    html = '<html><head><meta charset="iso-8859-1"><title>Café</title></head>déjà vu</html>'
    url = server.page("/latin1", html.encode("latin-1"), charset=None)

    page = await fetch(url)

    assert page.encoding == "iso8859-1"
    assert page.text() == html


async def test_http_equiv_charset(server: LocalServer) -> None:
    html = (
        '<html><head><meta http-equiv="Content-Type" content="text/html; charset=windows-1252">'
        "</head>“quoted” – €</html>"
    )
    url = server.page("/cp1252", html.encode("cp1252"), charset=None)

    page = await fetch(url)

    assert (page.encoding, page.text()) == ("cp1252", html)


async def test_body_mislabelled_utf8_is_decoded_by_detection(server: LocalServer) -> None:
    html = f"<html><head><title>Les cafés</title></head><body>{FRENCH * 3}</body></html>"
    url = server.page("/mislabelled", html.encode("cp1252"), charset="utf-8")

    page = await fetch(url)

    assert page.encoding == "cp1252"
    assert page.text() == html


async def test_utf16_with_bom_and_xml_declaration(server: LocalServer) -> None:
    feed = '<?xml version="1.0" encoding="utf-16"?><rss><channel><title>Übung</title></channel>'
    feed += "</rss>"
    url = server.page(
        "/feed", feed.encode("utf-16"), content_type="application/rss+xml", charset=None
    )

    page = await fetch(url)

    assert page.is_feed and page.text() == feed


async def test_undecodable_bytes_are_rejected(server: LocalServer) -> None:
    garbage = random.Random(7).randbytes(4000)
    url = server.page("/garbage", garbage, charset="utf-8")

    error = await fetch_error(url)

    assert error.reason.startswith("cannot decode the text (declared utf-8)")


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("0", 0.0),
        ("120", 120.0),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),  # already past: retry now
        ("soon", None),
    ],
)
def test_retry_after_parsing(header: str | None, expected: float | None) -> None:
    assert retry_after_seconds(header) == expected


def test_retry_after_http_date_in_the_future() -> None:
    seconds = retry_after_seconds("Wed, 21 Oct 2099 07:28:00 GMT")

    assert seconds is not None and seconds > 365 * 24 * 3600


# --- politeness -----------------------------------------------------------------------


async def test_per_host_concurrency_limit(server: LocalServer) -> None:
    in_flight = peak = 0

    async def slow(request: web.Request) -> web.Response:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.05)
        in_flight -= 1
        return web.Response(text="<html>ok</html>", content_type="text/html")

    async with Fetcher(policy(per_host_concurrency=2)) as fetcher:
        pages = await asyncio.gather(
            *(fetcher.fetch(server.route(f"/p{i}", slow)) for i in range(6))
        )

    assert [p.status for p in pages] == [200] * 6
    assert peak == 2


def test_fetcher_construction_opens_nothing() -> None:
    fetcher = Fetcher()  # no running loop here: a session made now would fail or leak

    assert fetcher.policy == FetchPolicy()


async def test_unsupported_input_url_is_a_fetch_error() -> None:
    error = await fetch_error("ftp://example.com/file")

    assert "unsupported scheme 'ftp:'; only http:// and https://" in error.reason


# --- the address policy and the resolver ----------------------------------------------


@pytest.mark.parametrize(
    ("ip", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("127.0.0.2", "loopback"),
        ("::1", "loopback"),
        ("::ffff:127.0.0.1", "IPv6-wrapped loopback"),
        ("2002:7f00:1::", "IPv6-wrapped loopback"),  # 6to4 around 127.0.0.1
        ("64:ff9b::a01:203", "IPv6-wrapped private"),  # NAT64 around 10.1.2.3
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("fc00::1", "private"),
        ("169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("100.64.0.1", "shared (CGNAT)"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("fec0::1", "site-local"),
        ("240.0.0.1", "private"),
        ("::127.0.0.1", "reserved"),
        ("not-an-ip", "unparseable"),
        ("93.184.216.34", None),
        ("1.1.1.1", None),
        ("2606:4700::1111", None),
        ("::ffff:93.184.216.34", None),
    ],
)
def test_address_policy_default(ip: str, kind: str | None) -> None:
    assert AddressPolicy().refusal(ip) == kind


def test_address_policy_check_raises_fetch_error_naming_url_and_address() -> None:
    with pytest.raises(FetchError) as caught:
        AddressPolicy().check("10.0.0.7", "intranet.example", "http://intranet.example/")

    assert caught.value.source == "http://intranet.example/"
    assert "host 'intranet.example', which resolves to a private address 10.0.0.7" in str(
        caught.value
    )
    AddressPolicy().check("93.184.216.34", "example.com", "http://example.com/")


def test_address_policy_allowed_networks_are_exact() -> None:
    allow_one = AddressPolicy(allowed_networks=("127.0.0.1/32",))

    assert allow_one.refusal("127.0.0.1") is None
    assert allow_one.refusal("::ffff:127.0.0.1") is None  # the same address, IPv6-wrapped
    assert allow_one.refusal("127.0.0.2") == "loopback"
    assert allow_one.refusal("10.0.0.1") == "private"
    assert AddressPolicy(allow_private_networks=True).refusal("10.0.0.1") is None


class ScriptedResolver(AbstractResolver):
    """Stands in for DNS (tests never send a query): answers every name with `ips`."""

    def __init__(self, *ips: str) -> None:
        self.ips = ips

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        return [
            ResolveResult(
                hostname=host, host=ip, port=port, family=socket.AF_INET, proto=0, flags=0
            )
            for ip in self.ips
        ]

    async def close(self) -> None:
        pass


async def test_resolver_refuses_if_any_address_is_private() -> None:
    # A rebinding answer mixes a public address with an internal one.
    resolver = GuardedResolver(AddressPolicy(), ScriptedResolver("93.184.216.34", "10.0.0.5"))

    with pytest.raises(BlockedAddressError) as caught:
        await resolver.resolve("rebind.example", 80)

    assert (caught.value.ip, caught.value.kind) == ("10.0.0.5", "private")


async def test_resolver_passes_public_answers_through() -> None:
    resolver = GuardedResolver(AddressPolicy(), ScriptedResolver("93.184.216.34"))

    results = await resolver.resolve("example.com", 443)

    assert [r["host"] for r in results] == ["93.184.216.34"]
