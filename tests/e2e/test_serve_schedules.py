"""`serve` with its schedules: the owner lists and runs jobs from Telegram, the digest
arrives in the configured chat with the draft's buttons, a recrawl run from chat ingests
what a feed added, and a second `serve` on the same database runs without schedules."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import timedelta

import pytest
from aiohttp import web

from bot.config import load_config
from bot.schedules import digest_post
from bot.serve import serve
from bot.twin import Twin
from model.hf import HfGenerator
from tests.bot.telegram_emulator import TelegramEmulator
from tests.chat_support import SAMPLE, SHORT_DRAFTS
from tests.http_server import LocalServer

pytestmark = pytest.mark.slow

OWNER = 7


@pytest.fixture
async def telegram(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[TelegramEmulator]:
    emulator = TelegramEmulator()
    await emulator.start()
    monkeypatch.setenv("TWIN_TELEGRAM__TOKEN", emulator.token)
    monkeypatch.setattr(digest_post, "SETTLE", timedelta(0))
    try:
        yield emulator
    finally:
        await emulator.close()


@asynccontextmanager
async def serving(
    smol: HfGenerator, telegram: TelegramEmulator, **settings: str
) -> AsyncIterator[dict[str, str]]:
    config = load_config(
        {
            **SHORT_DRAFTS,
            "web.port": "0",
            "telegram.base_url": telegram.base_url,
            "telegram.allowed_user_ids": f"[{OWNER}]",
            "schedules.digest_to": f'["telegram:{OWNER}"]',
            **settings,
        }
    )
    stop, ready = asyncio.Event(), asyncio.Event()
    started: dict[str, str] = {}

    def on_ready(what: dict[str, str]) -> None:
        started.update(what)
        ready.set()

    task = asyncio.create_task(serve(config, stop=stop, on_ready=on_ready, generator=smol))
    await asyncio.wait_for(ready.wait(), 120)
    try:
        yield started
    finally:
        stop.set()
        await asyncio.wait_for(task, 60)


async def said_after(
    telegram: TelegramEmulator, text: str, done: Callable[[list[str]], bool]
) -> list[str]:
    """Send `text` as the owner; the texts the bot sent back, once `done` says so."""
    before = len(telegram.find("sendMessage", OWNER))
    await telegram.push_message(OWNER, text)
    for _ in range(600):
        calls = telegram.find("sendMessage", OWNER)[before:]
        texts = [str(c.params.get("text", "")) for c in calls]
        if done(texts):
            return texts
        await asyncio.sleep(0.1)
    raise AssertionError(f"no answer to {text!r}")


def containing(word: str) -> Callable[[list[str]], bool]:
    return lambda texts: any(word in t for t in texts)


async def ingest(*inputs: str) -> None:
    twin = Twin(load_config(SHORT_DRAFTS))
    try:
        async with twin.ingestor() as ingestor:
            results = await ingestor.ingest(list(inputs), allow_paths=True)
        assert all(r.ok for r in results)
    finally:
        twin.close()


def feed(
    server: LocalServer, posts: dict[str, str]
) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handle(request: web.Request) -> web.Response:
        items = "".join(
            f"<item><title>{slug}</title><link>{server.url('/p/' + slug)}</link>"
            f"<content:encoded><![CDATA[<p>{text}</p>]]></content:encoded></item>"
            for slug, text in posts.items()
        )
        xml = (
            '<?xml version="1.0"?><rss version="2.0" xmlns:content='
            '"http://purl.org/rss/1.0/modules/content/"><channel><title>Blog</title>'
            f"<link>{server.url('/')}</link>{items}</channel></rss>"
        )
        return web.Response(text=xml, content_type="application/rss+xml")

    return handle


async def test_the_owner_runs_the_digest_and_a_recrawl_from_telegram(
    smol: HfGenerator, telegram: TelegramEmulator, server: LocalServer
) -> None:
    posts = {"alpha": " ".join(f"apple{i % 7}" for i in range(90))}
    url = server.route("/feed.xml", feed(server, posts))
    await ingest(str(SAMPLE), url)

    async with serving(smol, telegram) as started:
        assert started["schedules"] == "5 jobs"  # 2 recrawls, retrain, its check, digest
        listing = await said_after(telegram, "schedules", containing("digest:telegram"))
        assert f"recrawl:{url}: next in 6.0 h" in listing[0]

        texts = await said_after(telegram, "run digest", containing("digest:telegram:7: posted"))
        digest = next(t for t in texts if "Your writing" in t)
        assert "alpha" in digest and "A draft from it:" in digest
        buttons = [c for c in telegram.find("sendMessage", OWNER) if c.params.get("reply_markup")]
        assert buttons and "A draft from it:" in str(buttons[-1].params["text"])  # 👍 👎 🔁 ✏️

        posts["beta"] = " ".join(f"banana{i % 7}" for i in range(90))
        texts = await said_after(telegram, f"run {url}", containing("1 new"))
        assert any(t.startswith(f"recrawl:{url}: ✓") for t in texts)


async def test_a_second_serve_on_the_same_database_runs_without_schedules(
    smol: HfGenerator, telegram: TelegramEmulator
) -> None:
    await ingest(str(SAMPLE))
    async with serving(smol, telegram) as first:
        assert first["schedules"] == "4 jobs"
        async with serving(smol, telegram, **{"telegram.base_url": telegram.base_url}) as second:
            assert second["schedules"].startswith("not started: another bot (pid ")
