"""Every kind of bad input gets one line naming it and a reason; nothing is stored for it;
the good input given alongside still succeeds; the exit code is 1."""

from __future__ import annotations

import asyncio
import json
import os
import socket
from collections.abc import Callable
from pathlib import Path

import pytest
from aiohttp import web
from click.testing import CliRunner

from bot.cli.main import cli
from tests.http_server import ThreadedServer

LOOPBACK = ["--set", "ingest.allowed_networks=127.0.0.1/32"]
FAST = ["--set", "ingest.retries=1", "--set", "ingest.backoff_base=0.01"]


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, [*LOOPBACK, *FAST, *args], catch_exceptions=False)
    return result.exit_code, result.output


def stored(home: Path) -> tuple[int, int]:
    """(documents in the warehouse, chunks in the index)."""
    from bot.config import load_config
    from bot.twin import Twin

    twin = Twin(load_config(home=home))
    try:
        return twin.warehouse.count_documents(), twin.index.count()
    finally:
        twin.close()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def slow(request: web.Request) -> web.StreamResponse:
    await asyncio.sleep(3)
    return web.Response(text="<html><body><p>late</p></body></html>", content_type="text/html")


async def to_private(request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound("http://10.1.2.3/admin")


Case = Callable[[ThreadedServer], tuple[str, str]]

CASES: dict[str, Case] = {
    "malformed url": lambda s: ("http://exa mple.com/post", "exa mple.com"),
    "file scheme": lambda s: ("file:///etc/passwd", "only http:// and https://"),
    "ftp scheme": lambda s: ("ftp://example.com/post.txt", "only http:// and https://"),
    "javascript scheme": lambda s: ("javascript:alert(1)", "only http:// and https://"),
    "dns failure": lambda s: ("http://nonexistent.invalid/post", "nonexistent.invalid"),
    "refused": lambda s: (f"http://127.0.0.1:{closed_port()}/post", "refused"),
    "timeout": lambda s: (s.route("/slow", slow), "timed out"),
    "404": lambda s: (s.page("/gone", "nope", status=404), "404"),
    "500": lambda s: (s.page("/broken", "oops", status=500), "500"),
    "binary": lambda s: (
        s.page("/img", b"\x89PNG\r\n\x1a\n" + bytes(200), content_type="image/png", charset=None),
        "binary",
    ),
    "oversize": lambda s: (s.page("/huge", "<p>" + "x" * 100_000 + "</p>"), "larger than"),
    "redirect to private": lambda s: (s.route("/jump", to_private), "10.1.2.3"),
    "no text": lambda s: (
        s.page("/empty", "<html><body><nav><a href='/'>Home</a></nav></body></html>"),
        "no article text",
    ),
    "broken encoding": lambda s: (
        s.page("/garbage", bytes(range(256)) * 8, charset="utf-8"),
        "decode",
    ),
    "malformed feed": lambda s: (
        s.page(
            "/feed.xml",
            "<?xml version='1.0'?><rss><channel><item><title>x</ti",
            content_type="application/rss+xml",
        ),
        "malformed feed",
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_is_reported_and_leaves_nothing(
    name: str, threaded_server: ThreadedServer, twin_home: Path
) -> None:
    good = threaded_server.fixture_page("lemire.me.json.html")
    bad, reason = CASES[name](threaded_server)
    extra = ["--set", "ingest.read_timeout=0.5"] if name == "timeout" else []
    extra += ["--set", "ingest.max_bytes=80000"] if name == "oversize" else []  # good: 69 kB

    code, output = run(*extra, "ingest", bad, good)

    assert code == 1, output
    lines = output.splitlines()
    bad_lines = [line for line in lines if line.startswith("✗")]
    assert len(bad_lines) == 1, output
    assert bad.split("#")[0].strip() in bad_lines[0] or bad.strip() in bad_lines[0], output
    assert reason.lower() in bad_lines[0].lower(), output
    assert any(line.startswith("✓") and "lemire.me.json.html" in line for line in lines)
    assert "1 of 2 inputs ingested" in output and "1 failed" in output
    documents, chunks = stored(twin_home)
    assert documents == 1 and chunks > 0
    code, output = run("sources", "--json")
    assert [s["url"] for s in json.loads(output)] == [good]


def test_unknown_path_is_reported(twin_home: Path) -> None:
    code, output = run("ingest", "no/such/folder")
    assert code == 1
    assert output.startswith("✗") and "no/such/folder" in output
    assert stored(twin_home) == (0, 0)


def test_bad_config_value_is_one_line_and_exit_2() -> None:
    result = CliRunner().invoke(cli, ["--set", "search.alpha=2", "search", "x"])
    assert result.exit_code == 2
    assert "search.alpha" in result.output and "Traceback" not in result.output


def test_search_rejects_bad_flags() -> None:
    result = CliRunner().invoke(cli, ["search", "x", "--alpha", "1.5"])
    assert result.exit_code == 2 and "--alpha" in result.output
    result = CliRunner().invoke(cli, ["search", "x", "--since", "yesterday"])
    assert result.exit_code == 2 and "YYYY-MM-DD" in result.output


def test_forget_unknown_url_fails_clearly() -> None:
    code, output = run("forget", "https://example.com/never-ingested")
    assert code == 1 and "not a known source or document" in output


def test_environment_reaches_the_cli(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TWIN_SEARCH__K", "zero")
    result = CliRunner().invoke(cli, ["search", "x"])
    assert result.exit_code == 2 and "search.k (from environment)" in result.output
    assert os.environ["TWIN_HOME"]  # the autouse fixture keeps tests out of ./.twin
