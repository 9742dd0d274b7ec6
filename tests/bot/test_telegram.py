"""The Telegram adapter: the real python-telegram-bot against the Bot API emulator, with a
real ChatHandler over the sample writing and SmolLM2 where a test drafts."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import AsyncGenerator, AsyncIterator, Mapping, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any, ClassVar

import aiohttp
import pytest
from telegram import Bot

from bot.chat.commands import HELP
from bot.chat.handler import REFUSAL, ChatHandler
from bot.chat.replies import BUTTON_LABELS, DraftFinal, DraftUpdate, Out
from bot.chat.telegram.adapter import start_telegram
from bot.chat.telegram.markup import MESSAGE_LIMIT, split_text, text_size, to_html
from bot.chat.telegram.render import (
    DraftMessages,
    TelegramRenderer,
    feedback_keyboard,
    parse_feedback,
)
from bot.chat.telegram.webhook import SECRET_HEADER
from bot.twin import Twin
from core.errors import ConfigError
from model.generator import GenerationEvent, GenerationParams, Generator, Message, TextDelta
from model.records import SourceRef
from tests.bot.telegram_emulator import Call, TelegramEmulator, visible_text
from tests.chat_support import chat_handler
from tests.http_server import LocalServer

OWNER = 42
DRAFT_ID = "0123456789abcdef0123456789abcdef"


@pytest.fixture
async def emulator(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[TelegramEmulator]:
    emu = TelegramEmulator()
    await emu.start()
    monkeypatch.setenv("TWIN_TELEGRAM__TOKEN", emu.token)
    try:
        yield emu
    finally:
        await emu.close()


@asynccontextmanager
async def telegram_bot(
    generator: Generator, emulator: TelegramEmulator, overrides: Mapping[str, str] | None = None
) -> AsyncIterator[tuple[ChatHandler, Twin, str]]:
    """The bot as `serve` starts it; yields the handler, the twin and start's one line."""
    settings = {
        "telegram.allowed_user_ids": f"[{OWNER}]",
        "telegram.base_url": emulator.base_url,
        "chat.edit_interval": "0.05",
        **(overrides or {}),
    }
    async with chat_handler(generator, settings) as (handler, twin), AsyncExitStack() as stack:
        description = await start_telegram(twin.config, handler, stack)
        yield handler, twin, description


def sent_to(chat_id: int, starting: str = "") -> Any:
    """Predicate: a delivered sendMessage to `chat_id` whose shown text starts so."""

    def match(call: Call) -> bool:
        return (
            call.ok
            and call.method == "sendMessage"
            and call.params.get("chat_id") == chat_id
            and str(call.result["text"]).startswith(starting)
        )

    return match


def settled(chat_id: int) -> Any:
    """Predicate: the delivered message that carries a draft's feedback buttons."""

    def match(call: Call) -> bool:
        return (
            call.ok
            and call.method in ("sendMessage", "editMessageText")
            and call.params.get("chat_id") == chat_id
            and "reply_markup" in call.params
        )

    return match


def last_final(twin: Twin) -> DraftFinal:
    """The last draft as the handler finished it."""
    [record] = twin.drafts.recent(1)
    return DraftFinal.of(record)


def expected_text(twin: Twin) -> tuple[str, str]:
    """The last draft's id and its final text as Telegram shows it."""
    final = last_final(twin)
    return final.draft_id, visible_text(to_html(final.full_text), "HTML")


# --- markup and callback data --------------------------------------------------------------


def test_split_text_packs_paragraphs_and_never_loses_text() -> None:
    one, two, three = ("a" * 2000, "b" * 2000, "c" * 2000)
    assert split_text(f"{one}\n\n{two}\n\n{three}") == [f"{one}\n\n{two}", three]
    assert split_text("short") == ["short"]
    assert split_text("  \n\n ") == []

    lines = "\n".join(f"line {i} " + "x" * 90 for i in range(100))  # one long paragraph
    parts = split_text(lines)
    assert len(parts) > 1 and all(text_size(p) <= MESSAGE_LIMIT for p in parts)
    assert "\n".join(parts) == lines  # split only at line ends

    word = "y" * 9000  # no boundary at all: cut anywhere, keep every character
    assert "".join(split_text(word)) == word
    emoji = "👍" * 3000  # 6000 UTF-16 units: counted as Telegram does, never halved
    parts = split_text(emoji)
    assert "".join(parts) == emoji and all(text_size(p) <= MESSAGE_LIMIT for p in parts)


def test_light_markdown_becomes_escaped_telegram_html() -> None:
    assert to_html("**Bold** & <tag> a<b") == "<b>Bold</b> &amp; &lt;tag&gt; a&lt;b"
    assert to_html("- item one\n  * nested") == "• item one\n  • nested"
    assert to_html("# Title") == "<b>Title</b>"
    assert to_html("- A & B <https://x.example/a?b=1&c=2>") == (
        '• <a href="https://x.example/a?b=1&amp;c=2">A &amp; B</a>'
    )
    assert to_html("1. Post <https://x.example/p>") == '1. <a href="https://x.example/p">Post</a>'
    assert to_html("see <https://x.example> now") == (
        'see <a href="https://x.example">https://x.example</a> now'
    )
    assert to_html("an ** unmatched") == "an ** unmatched"
    text = '**Evals** <matter> & so do\n- links <https://x.example/?q="a">'
    assert visible_text(to_html(text), "HTML") == "Evals <matter> & so do\n• links"


def test_feedback_buttons_fit_callback_data() -> None:
    keyboard = feedback_keyboard(DRAFT_ID)
    assert keyboard is not None
    buttons = [b for row in keyboard.inline_keyboard for b in row]
    assert [b.text for b in buttons] == list(BUTTON_LABELS.values())
    for button, action in zip(buttons, BUTTON_LABELS, strict=True):
        assert isinstance(button.callback_data, str)
        assert len(button.callback_data.encode()) <= 64
        assert parse_feedback(button.callback_data) == (action, DRAFT_ID)
    assert parse_feedback("fb:nope:x") is None
    assert parse_feedback("fb:up:") is None
    assert parse_feedback(None) is None
    assert feedback_keyboard("x" * 60) is None


def test_draft_messages_keep_only_the_latest() -> None:
    messages = DraftMessages(limit=3)
    for message_id in range(5):
        messages.remember(1, message_id, f"d{message_id}")
    assert len(messages) == 3
    assert messages.draft_for(1, 0) is None and messages.draft_for(1, 4) == "d4"
    assert messages.draft_for(2, 4) is None  # message ids are per chat


# --- rendering against the emulator, no model ----------------------------------------------


@pytest.fixture
async def bot(emulator: TelegramEmulator) -> AsyncIterator[Bot]:
    async with Bot(emulator.token, base_url=emulator.base_url) as ptb_bot:
        yield ptb_bot


async def replay(*outs: Out) -> AsyncIterator[Out]:
    for out in outs:
        yield out


async def test_a_long_final_draft_continues_in_new_messages(
    bot: Bot, emulator: TelegramEmulator
) -> None:
    paragraphs = [f"Paragraph {i}: " + "word " * 150 for i in range(20)]
    final = DraftFinal(
        DRAFT_ID,
        "\n\n".join(paragraphs),
        "article",
        (SourceRef("https://blog.example/post", "A post"),),
        (),
        "stop",
    )
    renderer = TelegramRenderer(bot, edit_interval=0.01)
    await renderer.render(OWNER, replay(DraftUpdate(paragraphs[0]), final))

    first, *rest = emulator.find("sendMessage", OWNER)
    [edit] = emulator.find("editMessageText", OWNER)
    assert edit.params["message_id"] == first.result["message_id"]
    assert rest and "reply_markup" not in edit.params
    shown = [edit.result["text"]] + [c.result["text"] for c in rest]
    assert all(text_size(text) <= MESSAGE_LIMIT for text in shown)
    assert " ".join(shown).split() == visible_text(to_html(final.full_text), "HTML").split()
    assert shown[-1].endswith("Sources:\n• A post")
    assert "reply_markup" in rest[-1].params  # the buttons sit under the end of the draft
    for call in [edit, *rest]:
        assert renderer.drafts.draft_for(OWNER, call.result["message_id"]) == DRAFT_ID


async def test_a_long_say_is_split_on_paragraphs(bot: Bot, emulator: TelegramEmulator) -> None:
    text = "\n\n".join(f"{i}. Result <https://x.example/{i}>\n" + "z " * 300 for i in range(30))
    renderer = TelegramRenderer(bot)
    ids = await renderer.say(OWNER, text)
    calls = emulator.find("sendMessage", OWNER)
    assert len(ids) == len(calls) > 1
    assert " ".join(c.result["text"] for c in calls).split() == (
        visible_text(to_html(text), "HTML").split()
    )
    assert all(re.match(r"\d+\. Result", c.result["text"]) for c in calls)  # whole paragraphs


# --- the running bot ---------------------------------------------------------------------


@pytest.mark.slow
async def test_a_draft_streams_then_takes_ratings_and_edits(
    smol: Generator, emulator: TelegramEmulator
) -> None:
    async with telegram_bot(smol, emulator) as (_, twin, description):
        assert description == "long polling as @twin_test_bot"
        await emulator.push_message(OWNER, "write about evaluating retrieval quality")
        final = await emulator.wait_for(settled(OWNER))

        [first] = emulator.find("sendMessage", OWNER)
        message_id = first.result["message_id"]
        assert final.method == "editMessageText" and final.params["message_id"] == message_id
        assert emulator.find("editMessageText", OWNER)[-1] is final
        draft_id, text = expected_text(twin)
        assert final.result["text"] == text and "Sources:" in text
        keyboard = final.params["reply_markup"]["inline_keyboard"]
        labels = [button["text"] for row in keyboard for button in row]
        assert [label.split()[0] for label in labels] == ["👍", "👎", "🔁", "✏️"]

        await emulator.press(OWNER, message_id, f"fb:up:{draft_id}")
        await emulator.wait_for(lambda c: c.method == "answerCallbackQuery")
        await emulator.wait_for(sent_to(OWNER, "Noted 👍"))
        assert [f.rating for f in twin.drafts.feedback_for(draft_id)] == [1]

        await emulator.push_message(OWNER, "My own, better version.", reply_to=message_id)
        await emulator.wait_for(sent_to(OWNER, "Saved your edit"))
        edits = [f.edited_text for f in twin.drafts.feedback_for(draft_id)]
        assert edits == [None, "My own, better version."]
        assert len(twin.drafts.recent()) == 1  # the reply made no new draft


@pytest.mark.slow
async def test_a_link_drop_reports_each_link(
    smol: Generator, emulator: TelegramEmulator, server: LocalServer
) -> None:
    urls = [server.fixture_page("blog.python.org.html"), server.fixture_page("lemire.me.json.html")]
    async with telegram_bot(smol, emulator) as (_, twin, _description):
        await emulator.push_message(OWNER, f"{urls[0]} {urls[1]}")
        reply = await emulator.wait_for(sent_to(OWNER))
        lines = reply.result["text"].splitlines()
        assert len(lines) == 3 and lines[-1].startswith("2 of 2 links ingested: 2 new documents")
        for line, url in zip(lines, urls, strict=False):
            assert line.startswith(f"✓ {url}:")
        assert twin.drafts.recent() == []


@pytest.mark.slow
async def test_a_stranger_is_refused_and_nothing_is_made(
    smol: Generator, emulator: TelegramEmulator
) -> None:
    async with telegram_bot(smol, emulator) as (_, twin, _description):
        await emulator.push_message(7, "write about my company")
        reply = await emulator.wait_for(sent_to(7))
        assert reply.result["text"] == REFUSAL
        await emulator.push_message(OWNER, "help")  # served after the stranger's update
        await emulator.wait_for(sent_to(OWNER))
        assert len(emulator.find("sendMessage", 7)) == 1
        assert emulator.find("editMessageText", 7) == []
        assert twin.drafts.recent() == []
        # The command menu set at start names every command, training's included.
        [menu] = [c for c in emulator.calls if c.method == "setMyCommands"]
        commands = menu.params["commands"]
        entries = json.loads(commands) if isinstance(commands, str) else commands
        named = {entry["command"] for entry in entries}
        assert {"draft", "search", "cancel", "train", "models", "help"} <= named


@pytest.mark.slow
# PTB 22's own RetryAfter constructor warns about its int retry_after; not our code.
@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")
async def test_flood_control_is_waited_out_and_the_final_text_arrives(
    smol: Generator, emulator: TelegramEmulator
) -> None:
    emulator.flood_once("editMessageText", retry_after=1)
    async with telegram_bot(smol, emulator) as (_, twin, _description):
        await emulator.push_message(OWNER, "write about evaluating retrieval quality")
        final = await emulator.wait_for(settled(OWNER))
        [flooded] = [c for c in emulator.calls if c.status == 429]
        assert final.at >= flooded.at + 0.99  # nothing was edited before the wait was over
        assert not any(
            c.method == "editMessageText" and flooded.at < c.at < flooded.at + 0.99
            for c in emulator.calls
        )
        _, text = expected_text(twin)
        assert final.result["text"] == text


@pytest.mark.slow
async def test_rejected_formatting_falls_back_to_plain_text(
    smol: Generator, emulator: TelegramEmulator
) -> None:
    emulator.reject_html_once("editMessageText")
    async with telegram_bot(smol, emulator) as (_, twin, _description):
        await emulator.push_message(OWNER, "write about evaluating retrieval quality")
        final = await emulator.wait_for(settled(OWNER))
        [rejected] = [c for c in emulator.calls if c.status == 400]
        assert rejected.params["parse_mode"] == "HTML"
        assert "parse_mode" not in final.params
        assert final.result["text"] == last_final(twin).full_text.strip()


@pytest.mark.slow
async def test_malformed_updates_are_ignored(
    smol: Generator, emulator: TelegramEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    chat = {"id": OWNER, "type": "private"}
    base = {"date": 1700000000, "chat": chat, "from": emulator.user(OWNER)}
    sticker = {
        "file_id": "s1",
        "file_unique_id": "u1",
        "width": 512,
        "height": 512,
        "is_animated": False,
        "is_video": False,
        "type": "regular",
    }
    channel = {"id": -1001, "type": "channel", "title": "news"}
    async with telegram_bot(smol, emulator):
        await emulator.push({"message": {**base, "message_id": 901, "sticker": sticker}})
        await emulator.push(
            {"edited_message": {**base, "message_id": 902, "text": "help", "edit_date": 1700000001}}
        )
        await emulator.push(
            {
                "channel_post": {
                    "message_id": 903,
                    "date": 1700000000,
                    "chat": channel,
                    "text": "help",
                }
            }
        )
        bot_sender = {**base, "from": {"id": 5, "is_bot": True, "first_name": "other bot"}}
        await emulator.push({"message": {**bot_sender, "message_id": 904, "text": "help"}})
        await emulator.push(
            {
                "callback_query": {
                    "id": "cq-x",
                    "from": emulator.user(OWNER),
                    "chat_instance": "c",
                    "data": "garbage",
                    "inline_message_id": "im1",
                }
            }
        )
        await emulator.push({"poll_answer_of_the_future": {"x": 1}})
        await emulator.push_message(OWNER, "help")
        reply = await emulator.wait_for(sent_to(OWNER))
        assert reply.result["text"].startswith(HELP.splitlines()[0])
        assert len(emulator.find("sendMessage")) == 1
        # The stray button press is answered (so its spinner stops), nothing more.
        await emulator.wait_for(lambda c: c.method == "answerCallbackQuery")

        # A handler that fails (Telegram answers 500) is logged; the next update is served.
        emulator.fail_once("sendMessage", 500, "Internal Server Error")
        with caplog.at_level(logging.ERROR, logger="bot.chat.telegram.adapter"):
            await emulator.push_message(OWNER, "help")
            await emulator.wait_for(lambda c: c.method == "sendMessage" and c.status == 500)
            await emulator.push_message(OWNER, "status")
            await emulator.wait_for(sent_to(OWNER, "Documents:"))
        assert any("still serving" in r.getMessage() for r in caplog.records)


class GatedGenerator:
    """The real model, held after its first text until `gate` opens."""

    backend: ClassVar[str] = "hf"
    can_batch: bool = False

    def __init__(self, inner: Generator, gate: asyncio.Event) -> None:
        self.inner = inner
        self.gate = gate
        self.model_id = inner.model_id
        self.model_version = inner.model_version
        self.context_length = inner.context_length

    def count_tokens(self, messages: Sequence[Message]) -> int:
        return self.inner.count_tokens(messages)

    async def stream(
        self, messages: Sequence[Message], params: GenerationParams
    ) -> AsyncGenerator[GenerationEvent, None]:
        seen_text = False
        async for event in self.inner.stream(messages, params):
            if seen_text:
                await self.gate.wait()
            seen_text = seen_text or isinstance(event, TextDelta)
            yield event

    async def aclose(self) -> None:
        """The session owns the inner model."""


@pytest.mark.slow
async def test_users_are_served_concurrently(smol: Generator, emulator: TelegramEmulator) -> None:
    gate = asyncio.Event()
    overrides = {"telegram.allowed_user_ids": f"[{OWNER}, 43]"}
    async with telegram_bot(GatedGenerator(smol, gate), emulator, overrides) as (handler, *_):
        await emulator.push_message(OWNER, "write about evaluating retrieval quality")
        await emulator.wait_for(sent_to(OWNER))  # the draft message, text streaming in
        await emulator.wait_for(
            lambda c: c.method == "sendChatAction" and c.params["chat_id"] == OWNER
        )
        await emulator.push_message(43, "help")
        reply = await emulator.wait_for(sent_to(43))
        assert reply.result["text"].startswith(HELP.splitlines()[0])
        assert handler.drafts_in_flight == 1
        assert not any(settled(OWNER)(c) for c in emulator.calls)

        # The owner's own `cancel` is served beside the draft it stops.
        try:
            await emulator.push_message(OWNER, "cancel")
            await emulator.wait_for(sent_to(OWNER, "Cancelling your draft."))
            final = await emulator.wait_for(settled(OWNER))
        finally:
            gate.set()
        assert "(cancelled)" in final.result["text"]


@pytest.mark.slow
async def test_webhook_mode_checks_the_secret(
    smol: Generator, emulator: TelegramEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TWIN_TELEGRAM__WEBHOOK_SECRET", "s3cret_token-1")
    overrides = {
        "telegram.webhook_url": "https://bot.example/tg-hook",
        "telegram.webhook_port": "0",
    }
    async with telegram_bot(smol, emulator, overrides) as (_, _twin, description):
        match = re.fullmatch(
            r"webhook at https://bot\.example/tg-hook \(listening on port (\d+)\)", description
        )
        assert match is not None
        [hook] = emulator.find("setWebhook")
        assert hook.params["url"] == "https://bot.example/tg-hook"
        assert hook.params["secret_token"] == "s3cret_token-1"
        assert not emulator.find("getUpdates") and not emulator.find("deleteWebhook")

        url = f"http://127.0.0.1:{match[1]}/tg-hook"
        update = {
            "update_id": 1,
            "message": {
                "message_id": 1,
                "date": 1700000000,
                "chat": {"id": OWNER, "type": "private"},
                "from": emulator.user(OWNER),
                "text": "help",
            },
        }
        async with aiohttp.ClientSession() as session:
            for headers in ({}, {SECRET_HEADER: "wrong"}):
                async with session.post(url, json=update, headers=headers) as response:
                    assert response.status == 403
            right = {SECRET_HEADER: "s3cret_token-1"}
            async with session.post(url, data=b"not json", headers=right) as response:
                assert response.status == 400
            async with session.post(url, json=update, headers=right) as response:
                assert response.status == 200
        reply = await emulator.wait_for(sent_to(OWNER))
        assert reply.result["text"].startswith(HELP.splitlines()[0])
        assert len(emulator.find("sendMessage")) == 1


@pytest.mark.slow
async def test_a_rejected_token_fails_start_without_quoting_it(
    smol: Generator, emulator: TelegramEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TWIN_TELEGRAM__TOKEN", "999:not-the-right-token")
    settings = {"telegram.base_url": emulator.base_url}
    async with chat_handler(smol, settings, ingest_sample=False) as (handler, twin):
        async with AsyncExitStack() as stack:
            with pytest.raises(ConfigError, match="TWIN_TELEGRAM__TOKEN") as failure:
                await start_telegram(twin.config, handler, stack)
        assert "not-the-right-token" not in str(failure.value)
