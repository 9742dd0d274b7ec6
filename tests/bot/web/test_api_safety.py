"""What every response of the web app promises, against a real `serve`: the page without
a token, the token on every API route (and a rotated one taking effect at once), the
Content-Security-Policy and friends on every kind of response, JSON errors for unknown
routes, no path out of the static folder, and HTTPS when TLS is configured."""

from __future__ import annotations

import re
import shutil
import ssl
import subprocess
from pathlib import Path

import aiohttp
import pytest

from bot.web.access import WebToken
from bot.web.app import CONTENT_SECURITY_POLICY
from model.hf import HfGenerator
from tests.bot.web.api_client import api_of, read_events
from tests.serve_support import running_serve

ROUTES = [
    ("GET", "/api/status"),
    ("POST", "/api/message"),
    ("POST", "/api/draft"),
    ("POST", "/api/cancel"),
    ("POST", "/api/feedback"),
    ("GET", "/api/drafts"),
    ("GET", "/api/drafts/abc"),
    ("GET", "/api/sources"),
    ("POST", "/api/sources"),
    ("DELETE", "/api/sources"),
    ("POST", "/api/sources/upload"),
    ("POST", "/api/sources/recrawl"),
    ("POST", "/api/dataset"),
    ("GET", "/api/training"),
    ("POST", "/api/training"),
    ("GET", "/api/training/events"),
    ("POST", "/api/training/cancel"),
    ("GET", "/api/runs"),
    ("POST", "/api/models/activate"),
    ("GET", "/api/models/available"),
    ("GET", "/api/schedules"),
    ("POST", "/api/schedules/digest/run"),
    ("GET", "/api/settings"),
    ("PUT", "/api/settings"),
    ("GET", "/api/style"),
    ("GET", "/api/no-such-route"),
]


README = Path(__file__).resolve().parents[3] / "README.md"


def readme_routes() -> list[tuple[str, str]]:
    """Every `METHOD /api/...` the README's API section names."""
    section = README.read_text(encoding="utf-8").split("### The web app's API", 1)[1]
    section = section.split("\n## ", 1)[0]
    found = re.findall(r"`(GET|POST|PUT|DELETE) (/api/[^` ?]*)", section)
    return [(method, path) for method, path in found]


def test_the_readme_lists_every_route() -> None:
    def pattern(path: str) -> re.Pattern[str]:
        parts = re.split(r"(\{[^}]*\})", path)
        regex = "".join(
            "(" + "|".join(p[1:-1].split(",")) + ")"
            if p.startswith("{") and "," in p
            else "[^/]+"
            if p.startswith("{")
            else re.escape(p)
            for p in parts
        )
        return re.compile(regex + "$")

    documented = readme_routes()
    served = [(m, p) for m, p in ROUTES if p != "/api/no-such-route"]
    for method, path in served:
        assert any(m == method and pattern(p).match(path) for m, p in documented), (method, path)
    for method, path in documented:
        assert any(m == method and pattern(path).match(p) for m, p in served), (method, path)


def assert_safe_headers(response: aiohttp.ClientResponse) -> None:
    headers = response.headers
    assert headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY, response.url
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"] == "no-referrer"


def test_the_policy_allows_no_inline_script_or_eval() -> None:
    policy = dict(part.split(" ", 1) for part in CONTENT_SECURITY_POLICY.split("; "))
    assert policy["script-src"] == "'self'" and policy["style-src"] == "'self'"
    assert policy["default-src"] == "'none'" and policy["object-src"] == "'none'"
    assert policy["frame-ancestors"] == "'none'" and policy["base-uri"] == "'none'"
    assert "unsafe" not in CONTENT_SECURITY_POLICY


async def test_the_page_the_token_and_the_headers(smol: HfGenerator, twin_home: Path) -> None:
    with running_serve(smol) as srv:
        async with aiohttp.ClientSession(srv.base) as http:
            async with http.get("/") as r:  # no token: the page itself, which says how in
                assert r.status == 200 and r.content_type == "text/html"
                assert r.headers["Cache-Control"] == "no-store"
                assert_safe_headers(r)
                page = await r.text()
            # Nothing inline for the policy to block: scripts and styles come from /static.
            scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", page, re.S)
            assert scripts and all(
                'src="/static/' in attrs and not body.strip() for attrs, body in scripts
            )
            assert not re.search(r"<style\b|\son\w+\s*=|\sstyle\s*=", page, re.I)
            for asset in re.findall(r'(?:src|href)="(/static/[^"]+)"', page):
                async with http.get(asset) as r:
                    assert r.status == 200, asset
                    assert_safe_headers(r)
            async with http.get("/static/../app.py") as r:
                assert r.status in (403, 404)
                assert "build_web_app" not in await r.text()
            async with http.get("/static/%2e%2e/app.py") as r:
                assert r.status in (403, 404)
            async with http.get("/healthz") as r:
                assert r.status == 200
                assert_safe_headers(r)

            for method, path in ROUTES:
                async with http.request(method, path) as r:
                    assert r.status == 401, (method, path)
                    assert "llm-twin web-token" in (await r.json())["error"]
                    assert_safe_headers(r)
                bearer = {"Authorization": "Bearer nope"}
                async with http.request(method, path, headers=bearer) as r:
                    assert r.status == 401, (method, path)

        async with api_of(srv) as api:
            async with api.http.get("/api/status", headers=api.auth) as r:
                assert r.status == 200 and r.headers["Cache-Control"] == "no-store"
                assert_safe_headers(r)
            async with api.http.post("/api/message", json={"text": "help"}, headers=api.auth) as r:
                assert_safe_headers(r)
                assert (await read_events(r))[0]["type"] == "say"
            for method, path in ROUTES[:-1]:  # each is a route: none is unknown
                if (method, path) == ("POST", "/api/training"):
                    continue  # it would start a run
                async with api.http.request(method, path, headers=api.auth) as r:
                    if r.content_type == "application/json":
                        assert "no such API route" not in str(await r.json()), path
            reason = await api.error("GET", "/api/no-such-route", status=404)
            assert reason == "/api/no-such-route: no such API route; the README lists them"
            assert "not allowed" in await api.error("DELETE", "/api/status", status=405)
            async with api.http.post(
                "/api/message", data=b"x" * (2 * 1024 * 1024), headers=api.auth
            ) as r:
                assert r.status == 413 and "too large" in (await r.json())["error"]

            # `llm-twin web-token --rotate` from another process: the running page takes
            # the new token at once and refuses the old one.
            old = srv.token
            new = WebToken(twin_home).rotate()
            async with api.http.get("/api/status", headers=api.auth) as r:
                assert r.status == 401
            async with api.http.get("/api/status", headers={"Authorization": f"Bearer {new}"}) as r:
                assert r.status == 200
            assert new != old


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key, made by openssl."""
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


async def test_with_tls_settings_the_page_is_served_over_https(
    smol: HfGenerator, certificate: tuple[Path, Path]
) -> None:
    cert, key = certificate
    overrides = {"web.tls_cert": str(cert), "web.tls_key": str(key)}
    with running_serve(smol, overrides) as srv:
        assert srv.page.startswith("https://127.0.0.1:")
        trust = ssl.create_default_context(cafile=str(cert))
        trust.check_hostname = False  # the certificate names an IP address, not a host
        async with (
            aiohttp.ClientSession(srv.base, connector=aiohttp.TCPConnector(ssl=trust)) as http,
            http.get("/api/status", headers={"Authorization": f"Bearer {srv.token}"}) as r,
        ):
            assert r.status == 200 and (await r.json())["model"]["demo"] is True
        plain = srv.base.replace("https://", "http://")
        async with aiohttp.ClientSession() as http:
            with pytest.raises(aiohttp.ClientError):
                async with http.get(f"{plain}/healthz") as r:
                    await r.read()
