"""Posts of the bot's own (digests, failure reports): the notifiers that `start_telegram` and
`start_slack` hand `serve`, run with the real python-telegram-bot and slack-sdk against the
emulators, and `notifier_for`'s destinations."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import ClassVar

import aiohttp
import pytest
from slack_sdk.web.async_client import AsyncWebClient
from telegram import Bot

from bot.chat.notify import Notifier, NotifyError, notifier_for, poster
from bot.chat.slack.adapter import start_slack
from bot.chat.slack.blocks import BLOCKS_PER_MESSAGE, SECTION_LIMIT
from bot.chat.slack.mrkdwn import to_mrkdwn
from bot.chat.slack.notify import SlackNotifier
from bot.chat.telegram.adapter import start_telegram
from bot.chat.telegram.markup import MESSAGE_LIMIT, text_size, to_html
from bot.chat.telegram.notify import TelegramNotifier
from bot.chat.telegram.render import TelegramRenderer, parse_feedback
from bot.serve import _start_chat_adapters
from bot.twin import Twin
from core.errors import ConfigError, TwinError
from model.generator import Generator
from model.records import DraftRecord
from tests.bot.slack_emulator import BOT_TOKEN, SIGNING_SECRET, ApiCall, SlackEmulator, SlackSender
from tests.bot.telegram_emulator import Call, TelegramEmulator, visible_text
from tests.chat_support import chat_handler

OWNER = 42
GROUP = -1001234567890
DIGEST = (
    "# Weekly digest\n"
    "**3 new posts** since Monday & 1 failed <source>:\n"
    "- Evals first <https://blog.example/evals?a=1&b=2>\n"
    "- Small models win <https://blog.example/small>"
)
BUTTONS = ["fb_up", "fb_down", "fb_regenerate", "fb_edit"]


def saved_draft(twin: Twin, user: str) -> DraftRecord:
    return twin.drafts.save(
        DraftRecord(
            prompt="this week's writing",
            format="linkedin",
            output="This week: ship the small model first.",
            finish_reason="stop",
            backend="hf",
            model_id="smol",
            model_version="test",
            user=user,
        )
    )


def long_text() -> str:
    """About 13,000 characters in paragraphs: four Telegram messages, five Slack sections."""
    return "\n\n".join(f"Item {i}: " + "word " * 60 for i in range(45))


def dead_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- destinations ---------------------------------------------------------------------------


class StubNotifier:
    platform: ClassVar[str] = "slack"

    async def post(self, channel: str, text: str, *, draft_id: str | None = None) -> None:
        raise AssertionError("not posted in these tests")


def test_notifier_for_parses_destinations_and_names_the_fix() -> None:
    slack = StubNotifier()
    running: dict[str, Notifier] = {"slack": slack}
    assert notifier_for("slack:C0123ABCD", running) == (slack, "C0123ABCD")
    assert notifier_for("  Slack: C0123ABCD ", running) == (slack, "C0123ABCD")
    assert notifier_for("slack:D42", running) == (slack, "D42")

    failures = {
        "C0123": "names no platform; write telegram:<chat id> or slack:<channel id>",
        ":C0123": "names no platform",
        "discord:123": "unknown platform 'discord'; write telegram:<chat id>",
        "slack:#general": "'#general' is not a Slack channel id; e.g. slack:C0123ABCD",
        "slack:": "'' is not a Slack channel id",
        "telegram:@mychannel": "'@mychannel' is not a Telegram chat id; e.g. telegram:123456789",
        "telegram:-100123": (
            "digest_to has telegram:-100123 but Telegram is not running: set TWIN_TELEGRAM__TOKEN"
        ),
    }
    for destination, message in failures.items():
        with pytest.raises(ConfigError) as failure:
            notifier_for(destination, running, key="digest_to")
        said = str(failure.value)
        assert said.startswith("digest_to has ") and message in said, destination
    with pytest.raises(ConfigError) as failure:
        notifier_for("slack:C0123", {})
    assert str(failure.value) == (
        "the destination has slack:C0123 but Slack is not running: set TWIN_SLACK__BOT_TOKEN "
        "(and TWIN_SLACK__SIGNING_SECRET or TWIN_SLACK__APP_TOKEN)"
    )


# --- Telegram ---------------------------------------------------------------------------------


@pytest.fixture
async def telegram_api(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[TelegramEmulator]:
    emulator = TelegramEmulator()
    await emulator.start()
    monkeypatch.setenv("TWIN_TELEGRAM__TOKEN", emulator.token)
    try:
        yield emulator
    finally:
        await emulator.close()


@asynccontextmanager
async def telegram(
    generator: Generator, emulator: TelegramEmulator
) -> AsyncIterator[tuple[Twin, Notifier]]:
    """The bot as `serve` starts it; the twin and the notifier start gave back."""
    settings = {
        "telegram.allowed_user_ids": f"[{OWNER}]",
        "telegram.base_url": emulator.base_url,
    }
    async with (
        chat_handler(generator, settings, ingest_sample=False) as (handler, twin),
        AsyncExitStack() as stack,
    ):
        notifiers: dict[str, Notifier] = {}
        await start_telegram(twin.config, handler, stack, notifiers=notifiers)
        assert list(notifiers) == ["telegram"]
        yield twin, notifiers["telegram"]


def delivered(emulator: TelegramEmulator, chat_id: int) -> list[Call]:
    return emulator.find("sendMessage", chat_id)


@pytest.mark.slow
async def test_telegram_post_reaches_the_chat_as_html_and_long_text_is_split(
    smol: Generator, telegram_api: TelegramEmulator
) -> None:
    async with telegram(smol, telegram_api) as (twin, notifier):
        assert notifier.platform == "telegram"
        await notifier.post(str(GROUP), DIGEST)
        [call] = delivered(telegram_api, GROUP)
        assert call.params["parse_mode"] == "HTML"
        assert call.params["text"] == to_html(DIGEST)
        assert call.result["text"] == visible_text(to_html(DIGEST), "HTML")
        assert call.result["text"].startswith("Weekly digest\n3 new posts since Monday & 1 failed")
        assert "reply_markup" not in call.params  # no draft, no buttons
        assert telegram_api.find("sendMessage", OWNER) == []  # only the chat named

        text = long_text()
        await notifier.post(str(OWNER), text)
        parts = delivered(telegram_api, OWNER)
        assert len(parts) >= 3
        assert all(text_size(c.result["text"]) <= MESSAGE_LIMIT for c in parts)
        assert " ".join(c.result["text"] for c in parts).split() == text.split()
        assert all(c.result["text"].startswith("Item ") for c in parts)  # at paragraphs
        assert twin.drafts.recent() == []


@pytest.mark.slow
async def test_telegram_draft_post_has_the_buttons_and_a_press_rates_that_draft(
    smol: Generator, telegram_api: TelegramEmulator
) -> None:
    async with telegram(smol, telegram_api) as (twin, notifier):
        draft = saved_draft(twin, f"telegram:{OWNER}")
        await notifier.post(str(GROUP), DIGEST, draft_id=draft.id)
        [call] = delivered(telegram_api, GROUP)
        assert call.result["text"] == visible_text(to_html(DIGEST), "HTML")
        keyboard = call.params["reply_markup"]["inline_keyboard"]
        buttons = [button for row in keyboard for button in row]
        assert [parse_feedback(b["callback_data"]) for b in buttons] == [
            (action, draft.id) for action in ("up", "down", "regenerate", "edit")
        ]

        # The owner presses 👍 in the group: the adapter's own feedback path stores it.
        await telegram_api.press(
            OWNER, call.result["message_id"], buttons[0]["callback_data"], chat_id=GROUP
        )
        noted = await telegram_api.wait_for(
            lambda c: c.ok and c.method == "sendMessage" and c.result["text"].startswith("Noted")
        )
        assert noted.params["chat_id"] == GROUP and noted.result["text"] == "Noted 👍"
        [feedback] = twin.drafts.feedback_for(draft.id)
        assert (feedback.rating, feedback.user) == (1, f"telegram:{OWNER}")

        # A long draft: the buttons under its last message only; a reply to any part of
        # it is the owner's edit of that draft, as with a streamed draft.
        await notifier.post(str(OWNER), long_text(), draft_id=draft.id)
        *first, last = delivered(telegram_api, OWNER)
        assert first and all("reply_markup" not in c.params for c in first)
        assert "reply_markup" in last.params
        await telegram_api.push_message(
            OWNER, "My version.", reply_to=first[0].result["message_id"]
        )
        await telegram_api.wait_for(
            lambda c: c.ok and c.method == "sendMessage" and "Saved your edit" in c.result["text"]
        )
        assert [f.edited_text for f in twin.drafts.feedback_for(draft.id)] == [None, "My version."]


@pytest.mark.slow
async def test_telegram_failures_name_the_chat_and_the_fix(
    smol: Generator, telegram_api: TelegramEmulator
) -> None:
    telegram_api.lose_chat(-100999)
    telegram_api.block_bot(77)
    telegram_api.fail_once(
        "sendMessage",
        400,
        "Bad Request: group chat was upgraded to a supergroup chat",
        {"migrate_to_chat_id": -1005550000},
    )
    async with telegram(smol, telegram_api) as (_twin, notifier):
        expected = {
            "-4": "telegram chat -4: the group became a supergroup with id -1005550000; "
            "post to telegram:-1005550000 instead",
            "-100999": "telegram chat -100999: Telegram knows no such chat for this bot "
            "(chat not found); check the id, add the bot to the group or channel",
            "77": "telegram chat 77: the bot may not post there (Forbidden: bot was blocked by "
            "the user); unblock it or send it /start",
            "@news": "telegram chat @news: not a chat id; use the number",
        }
        for channel, message in expected.items():
            with pytest.raises(NotifyError) as failure:
                await notifier.post(channel, "the nightly ingest failed")
            assert str(failure.value).startswith(message), channel
            assert isinstance(failure.value, TwinError) and not failure.value.transient
        with pytest.raises(NotifyError, match="the message is empty"):
            await notifier.post(str(OWNER), "  \n")
        assert [c for c in telegram_api.calls if c.method == "sendMessage" and c.ok] == []

    # Nothing listening where the Bot API should be: a network failure, worth retrying.
    token = telegram_api.token
    base_url = f"http://127.0.0.1:{dead_port()}/bot"
    bot = Bot(token, base_url=base_url)  # not initialized: that would call getMe first
    try:
        unreachable = TelegramNotifier(TelegramRenderer(bot))
        with pytest.raises(NotifyError) as failure:
            await unreachable.post(str(OWNER), "the nightly ingest failed")
    finally:
        await bot.shutdown()
    assert str(failure.value).startswith(
        f"telegram chat {OWNER}: cannot reach the Telegram Bot API ("
    )
    assert "check the network or telegram.base_url" in str(failure.value)
    assert failure.value.transient and token not in str(failure.value)


# --- Slack ----------------------------------------------------------------------------------


@dataclass
class Slack:
    twin: Twin
    notifier: Notifier
    send: SlackSender


@pytest.fixture
async def slack_api(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[SlackEmulator]:
    emulator = SlackEmulator()
    await emulator.start()
    monkeypatch.setenv("TWIN_SLACK__BOT_TOKEN", BOT_TOKEN)
    monkeypatch.setenv("TWIN_SLACK__SIGNING_SECRET", SIGNING_SECRET)
    try:
        yield emulator
    finally:
        await emulator.close()


@asynccontextmanager
async def slack(generator: Generator, emulator: SlackEmulator) -> AsyncIterator[Slack]:
    settings = {
        "slack.allowed_user_ids": '["U1"]',
        "slack.base_url": emulator.base_url,
        "slack.port": "0",
    }
    async with (
        chat_handler(generator, settings, ingest_sample=False) as (handler, twin),
        AsyncExitStack() as stack,
    ):
        notifiers: dict[str, Notifier] = {}
        started = await start_slack(
            twin.config, handler, stack, host="127.0.0.1", notifiers=notifiers
        )
        assert list(notifiers) == ["slack"]
        session = await stack.enter_async_context(aiohttp.ClientSession())
        url = started.removeprefix("HTTP events at ")
        yield Slack(twin, notifiers["slack"], SlackSender(url, session, emulator))


def posts(emulator: SlackEmulator, channel: str) -> list[ApiCall]:
    return [
        c
        for c in emulator.calls_to("chat.postMessage")
        if c.params.get("channel") == channel and c.ts
    ]


def sections(call: ApiCall) -> list[str]:
    return [b["text"]["text"] for b in call.blocks if b["type"] == "section"]


@pytest.mark.slow
async def test_slack_post_reaches_the_channel_as_mrkdwn_within_block_limits(
    smol: Generator, slack_api: SlackEmulator
) -> None:
    async with slack(smol, slack_api) as bot:
        assert bot.notifier.platform == "slack"
        await bot.notifier.post("C0123", DIGEST)
        [call] = posts(slack_api, "C0123")
        assert sections(call) == [to_mrkdwn(DIGEST)]
        assert "<https://blog.example/evals?a=1&amp;b=2|Evals first>" in sections(call)[0]
        assert "&lt;source&gt;" in sections(call)[0]
        assert call.text == to_mrkdwn(DIGEST)  # the notification fallback
        assert not any(b["type"] == "actions" for b in call.blocks)

        text = "\n\n".join([long_text()] * 14)  # past 50 sections of 3000: two messages
        await bot.notifier.post("C0456", text)
        calls = posts(slack_api, "C0456")
        assert len(calls) >= 2 and all(len(c.blocks) <= BLOCKS_PER_MESSAGE for c in calls)
        every = [s for c in calls for s in sections(c)]
        assert all(len(s) <= SECTION_LIMIT for s in every)
        assert " ".join(every).split() == text.split()
        assert bot.twin.drafts.recent() == []


@pytest.mark.slow
async def test_slack_draft_post_has_the_buttons_and_a_press_rates_that_draft(
    smol: Generator, slack_api: SlackEmulator
) -> None:
    async with slack(smol, slack_api) as bot:
        draft = saved_draft(bot.twin, "slack:U1")
        await bot.notifier.post("C0123", DIGEST, draft_id=draft.id)
        [call] = posts(slack_api, "C0123")
        assert sections(call) == [to_mrkdwn(DIGEST)]
        [actions] = [b for b in call.blocks if b["type"] == "actions"]
        assert [e["action_id"] for e in actions["elements"]] == BUTTONS
        assert {e["value"] for e in actions["elements"]} == {draft.id}

        click = bot.send.click("fb_down", draft.id, channel="C0123", ts=call.ts)
        assert (await bot.send.interaction(click)).status == 200
        noted = await slack_api.wait_for(lambda c: c.method == "chat.postEphemeral")
        assert noted.text.startswith("Noted 👎")
        assert (noted.params["channel"], noted.params["thread_ts"]) == ("C0123", call.ts)
        [feedback] = bot.twin.drafts.feedback_for(draft.id)
        assert (feedback.rating, feedback.user) == (-1, "slack:U1")


@pytest.mark.slow
async def test_slack_failures_name_the_channel_and_the_fix(
    smol: Generator, slack_api: SlackEmulator
) -> None:
    slack_api.not_in.add("C0123")
    slack_api.unknown.add("C0GONE")
    async with slack(smol, slack_api) as bot:
        with pytest.raises(NotifyError) as failure:
            await bot.notifier.post("C0123", "the nightly ingest failed")
        assert (
            str(failure.value) == "slack channel C0123: the bot is not in it; /invite @twin there"
        )
        assert not failure.value.transient
        with pytest.raises(NotifyError) as failure:
            await bot.notifier.post("C0GONE", "the nightly ingest failed", draft_id="d1")
        assert str(failure.value).startswith(
            "slack channel C0GONE: the bot sees no channel with this id (channel_not_found); "
            "use the id from the channel's details"
        )
        with pytest.raises(NotifyError, match="the message is empty"):
            await bot.notifier.post("C1", " ")
        assert posts(slack_api, "C0123") == posts(slack_api, "C0GONE") == []

    base_url = f"http://127.0.0.1:{dead_port()}/api/"
    unreachable = SlackNotifier(AsyncWebClient(token=BOT_TOKEN, base_url=base_url))
    with pytest.raises(NotifyError) as failure:
        await unreachable.post("C0123", "the nightly ingest failed")
    assert str(failure.value).startswith(f"slack channel C0123: cannot reach Slack at {base_url}")
    assert failure.value.transient


# --- what serve gets --------------------------------------------------------------------------


@pytest.mark.slow
async def test_serve_gets_a_notifier_per_running_adapter(
    smol: Generator,
    telegram_api: TelegramEmulator,
    slack_api: SlackEmulator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = {
        "telegram.base_url": telegram_api.base_url,
        "slack.base_url": slack_api.base_url,
        "slack.port": "0",
    }
    async with chat_handler(smol, settings, ingest_sample=False) as (handler, twin):
        async with AsyncExitStack() as stack:
            started, notifiers = await _start_chat_adapters(twin.config, handler, stack)
            assert set(started) == set(notifiers) == {"telegram", "slack"}
            assert isinstance(notifiers["telegram"], TelegramNotifier)
            assert isinstance(notifiers["slack"], SlackNotifier)
            for destination in (f"telegram:{GROUP}", "slack:C0123"):
                notifier, channel = notifier_for(destination, notifiers)
                await notifier.post(channel, DIGEST)
            assert len(delivered(telegram_api, GROUP)) == len(posts(slack_api, "C0123")) == 1
            post = poster(notifiers, key="digest_to")
            draft = saved_draft(twin, "slack:U1")
            await post("slack:C0456", DIGEST, draft.id)
            [call] = posts(slack_api, "C0456")
            assert any(b["type"] == "actions" for b in call.blocks)
            with pytest.raises(ConfigError, match="digest_to has 'discord:1'"):
                await post("discord:1", DIGEST, None)

        for name in ("TWIN_TELEGRAM__TOKEN", "TWIN_SLACK__BOT_TOKEN"):
            monkeypatch.delenv(name)
        async with AsyncExitStack() as stack:
            assert await _start_chat_adapters(twin.config, handler, stack) == ({}, {})
