"""`serve` as a process runs it: the web API behind its token, SSE drafts, health and
metrics, and a clean stop that cancels the draft in flight."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from bot.config import load_config
from bot.twin import Twin
from model.hf import HfGenerator
from tests.http_server import ThreadedServer
from tests.serve_support import running_serve

pytestmark = pytest.mark.slow


async def events(response: aiohttp.ClientResponse) -> AsyncIterator[dict[str, Any]]:
    buffer = b""
    async for chunk in response.content.iter_any():
        buffer += chunk
        while b"\n\n" in buffer:
            raw, buffer = buffer.split(b"\n\n", 1)
            assert raw.startswith(b"data: ")
            yield json.loads(raw[6:])


async def test_the_api_needs_the_token_and_streams_drafts(
    smol: HfGenerator, threaded_server: ThreadedServer
) -> None:
    page = threaded_server.fixture_page("lemire.me.json.html")
    with running_serve(smol) as srv:
        auth = {"Authorization": f"Bearer {srv.token}"}
        async with aiohttp.ClientSession(srv.base) as http:
            async with http.get("/healthz") as r:
                assert r.status == 200 and await r.json() == {"status": "ok"}
            async with http.post("/api/message", json={"text": "help"}) as r:
                assert r.status == 401
            async with http.post(
                "/api/message", json={"text": "help"}, headers={"Authorization": "Bearer wrong"}
            ) as r:
                assert r.status == 401
            async with http.post("/api/message", data=b"[1", headers=auth) as r:
                assert r.status == 400 and "JSON object" in (await r.json())["error"]
            async with http.post("/api/sources", json={"url": " "}, headers=auth) as r:
                assert r.status == 400 and (await r.json())["error"].startswith("url is empty")
            async with http.post("/api/sources/recrawl", json={}, headers=auth) as r:
                said = [e async for e in events(r)]
            assert said[0]["text"] == "No sources yet: drop a link to your writing."
            async with http.delete("/api/sources", json={"url": page}, headers=auth) as r:
                assert r.status == 404 and "not a known source" in (await r.json())["error"]
            async with http.post("/api/cancel", json={}, headers=auth) as r:
                assert await r.json() == {"cancelled": False}

            async with http.post("/api/sources", json={"url": page}, headers=auth) as r:
                said = [e async for e in events(r)]
            assert said[0]["type"] == "say" and said[0]["text"].startswith(f"✓ {page}: 1 new")
            assert said[-1] == {"type": "end"}
            async with http.get("/api/sources", headers=auth) as r:
                assert [s["url"] for s in await r.json()] == [page]

            async with http.post(
                "/api/message", json={"text": "draft answer what is JSON parsing?"}, headers=auth
            ) as r:
                assert r.headers["Content-Type"] == "text/event-stream"
                drafted = [e async for e in events(r)]
            kinds = [e["type"] for e in drafted]
            assert kinds[0] == "update" and kinds[-2:] == ["final", "end"]
            final = drafted[-2]
            assert final["format"] == "answer" and final["text"]
            assert final["sources"][0]["url"] == page

            async with http.post(
                "/api/feedback", json={"draft_id": final["draft_id"], "action": "up"}, headers=auth
            ) as r:
                said = [e async for e in events(r)]
            assert "Noted" in said[0]["text"]
            async with http.post(
                "/api/feedback", json={"draft_id": final["draft_id"], "action": "x"}, headers=auth
            ) as r:
                assert r.status == 400

            async with http.get("/metrics") as r:
                metrics = await r.text()
            assert 'twin_requests_total{command="draft"} 1.0' in metrics
            assert "twin_generation_queue_depth 0.0" in metrics
            assert "twin_generated_tokens_total" in metrics

            async with http.delete("/api/sources", json={"url": page}, headers=auth) as r:
                said = [e async for e in events(r)]
            assert "Forgot" in said[0]["text"]
    twin = Twin(load_config())
    try:
        assert twin.drafts.feedback_for(final["draft_id"])[0].rating == 1
        assert twin.warehouse.list_sources() == []
    finally:
        twin.close()


async def test_stopping_cancels_the_draft_in_flight_and_records_it(smol: HfGenerator) -> None:
    overrides = {"drafting.max_new_tokens": "400"}
    with running_serve(smol, overrides) as srv:
        auth = {"Authorization": f"Bearer {srv.token}"}
        seen: list[dict[str, Any]] = []
        async with (
            aiohttp.ClientSession(srv.base) as http,
            http.post("/api/message", json={"text": "a long essay on evals"}, headers=auth) as r,
        ):
            async for event in events(r):
                seen.append(event)
                if len(seen) == 1:  # the draft is streaming: stop the process
                    srv.loop.call_soon_threadsafe(srv.stop.set)
    final = [e for e in seen if e["type"] == "final"]
    assert len(final) == 1 and final[0]["finish_reason"] == "cancelled"
    assert "(cancelled)" in final[0]["footer"]
    twin = Twin(load_config())
    try:
        [record] = twin.drafts.recent()
        assert record.finish_reason == "cancelled" and record.id == final[0]["draft_id"]
    finally:
        twin.close()
    await asyncio.sleep(0)


def test_without_the_page_health_and_metrics_stay_up(smol: HfGenerator) -> None:
    import urllib.error
    import urllib.request

    with running_serve(smol, {"web.enabled": "false"}) as srv:
        base = srv.started["health"].split("/healthz")[0]
        with urllib.request.urlopen(f"{base}/healthz", timeout=10) as r:
            assert json.load(r) == {"status": "ok"}
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(f"{base}/", timeout=10)
        assert info.value.code == 404


def test_the_real_process_starts_the_page_and_stops_on_sigterm(smol: HfGenerator) -> None:
    """`llm-twin serve` as a user runs it: prints the page URL, answers /healthz, and on
    SIGTERM stops cleanly with exit status 0."""
    import os
    import signal
    import subprocess
    import sys
    import urllib.request

    del smol  # loaded only so the dequantized model cache exists for the child
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    child = subprocess.Popen(
        [sys.executable, "-m", "bot", "--set", "web.port=0", "serve"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert child.stdout is not None
        lines = []
        for line in child.stdout:
            lines.append(line)
            if line.startswith("ready"):
                break
        page = next(line for line in lines if line.startswith("web page: "))
        base = page.split("web page: ", 1)[1].split("/#token=")[0]
        with urllib.request.urlopen(f"{base}/healthz", timeout=10) as r:
            assert json.load(r) == {"status": "ok"}
        child.send_signal(signal.SIGTERM)
        _, err = child.communicate(timeout=60)
        assert child.returncode == 0, err
        assert "stopped" in err and "Traceback" not in err
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


def test_serve_with_a_missing_model_fails_at_start_with_the_fix() -> None:
    from click.testing import CliRunner

    from bot.cli.main import cli

    result = CliRunner().invoke(
        cli, ["--set", "model.path=/no/such/model.gguf", "serve", "--port", "0"]
    )
    assert result.exit_code == 2, result.output
    assert "error: model.path /no/such/model.gguf does not exist" in result.output
    assert "web page:" not in result.output  # nothing started
