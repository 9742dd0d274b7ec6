"""The Slack adapter: real slack-bolt and a real ChatHandler (SmolLM2, the sample writing)
against the Web API emulator, driven by signed requests to the adapter's HTTP endpoint."""

from __future__ import annotations

import json
import re
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot.chat.commands import HELP
from bot.chat.handler import REFUSAL, ChatHandler
from bot.chat.replies import DraftFinal, DraftUpdate, Out, Say
from bot.chat.slack import adapter as slack_adapter
from bot.chat.slack.adapter import start_slack
from bot.chat.slack.blocks import BLOCKS_PER_MESSAGE, SECTION_LIMIT, draft_messages, say_messages
from bot.chat.slack.mrkdwn import from_mrkdwn, split_text, to_mrkdwn
from bot.chat.slack.stream import Target, deliver
from bot.twin import Twin
from core.errors import ConfigError
from model.generator import Generator
from model.records import DraftRecord, SourceRef
from tests.bot.slack_emulator import (
    APP_TOKEN,
    BOT_TOKEN,
    BOT_USER,
    SIGNING_SECRET,
    TEAM,
    ApiCall,
    SlackEmulator,
    SlackSender,
)
from tests.chat_support import chat_handler

BUTTONS = ["fb_up", "fb_down", "fb_regenerate", "fb_edit"]


@dataclass
class Slack:
    handler: ChatHandler
    twin: Twin
    send: SlackSender
    api: SlackEmulator
    started: str


@pytest.fixture
async def emulator() -> AsyncIterator[SlackEmulator]:
    emulator = SlackEmulator()
    await emulator.start()
    try:
        yield emulator
    finally:
        await emulator.close()


@pytest.fixture
def slack_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TWIN_SLACK__BOT_TOKEN", BOT_TOKEN)
    monkeypatch.setenv("TWIN_SLACK__SIGNING_SECRET", SIGNING_SECRET)


@asynccontextmanager
async def running(
    generator: Generator,
    emulator: SlackEmulator,
    overrides: Mapping[str, str] | None = None,
    *,
    ingest_sample: bool = False,
) -> AsyncIterator[Slack]:
    settings = {
        "slack.allowed_user_ids": '["U1"]',
        "slack.base_url": emulator.base_url,
        "slack.port": "0",
        "chat.edit_interval": "0.1",
        **(overrides or {}),
    }
    async with (
        chat_handler(generator, settings, ingest_sample=ingest_sample) as (handler, twin),
        AsyncExitStack() as stack,
    ):
        started = await start_slack(twin.config, handler, stack, host="127.0.0.1")
        url = started.removeprefix("HTTP events at ")
        session = await stack.enter_async_context(aiohttp.ClientSession())
        yield Slack(handler, twin, SlackSender(url, session, emulator), emulator, started)


def is_post(channel: str = "C1", thread_ts: str | None = None) -> Any:
    return lambda c: (
        c.method == "chat.postMessage"
        and c.params.get("channel") == channel
        and c.params.get("thread_ts") == thread_ts
    )


def is_final(c: ApiCall) -> bool:
    return c.method in ("chat.update", "chat.postMessage") and any(
        b["type"] == "actions" for b in c.blocks
    )


def section_text(call: ApiCall) -> str:
    return "\n".join(b["text"]["text"] for b in call.blocks if b["type"] == "section")


def saved_draft(twin: Twin, text: str = "Ship the small model first.") -> DraftRecord:
    record = DraftRecord(
        prompt="small models",
        format="linkedin",
        output=text,
        finish_reason="stop",
        backend="hf",
        model_id="smol",
        model_version="test",
        user="slack:U1",
    )
    return twin.drafts.save(record)


# --- end to end through slack-bolt --------------------------------------------------------


@pytest.mark.slow
async def test_slash_draft_acks_at_once_then_streams_and_settles_with_buttons(
    smol: Generator, emulator: SlackEmulator, slack_env: None
) -> None:
    async with running(smol, emulator, ingest_sample=True) as slack:
        assert slack.started.startswith("HTTP events at http://127.0.0.1:")
        sent = await slack.send.command("draft linkedin why we ship the small model first")
        assert sent.status == 200
        assert sent.seconds < 3  # Slack's own deadline for the ack
        assert not any(is_final(c) for c in emulator.calls)  # acked while still drafting

        first = await emulator.wait_for(is_post("C1"))
        final = await emulator.wait_for(is_final)
        record = slack.twin.drafts.recent(1)[0]
        assert final.method == "chat.update" and final.ts == first.ts
        edits = [c for c in emulator.calls_to("chat.update") if c is not final]
        assert edits and all(not c.blocks for c in edits)  # streamed as plain text
        assert section_text(final) == to_mrkdwn(record.output).strip()
        assert final.text  # the notification fallback
        [context] = [b for b in final.blocks if b["type"] == "context"]
        footer = context["elements"][0]["text"]
        assert "Sources:" in footer and record.sources
        assert f"|{to_mrkdwn(record.sources[0].title)}>" in footer
        [actions] = [b for b in final.blocks if b["type"] == "actions"]
        assert [e["action_id"] for e in actions["elements"]] == BUTTONS
        assert {e["value"] for e in actions["elements"]} == {record.id}

        # A reply in the draft's thread by someone else is ignored; the owner's is an edit.
        reply = {"type": "message", "channel": "C1", "channel_type": "channel"}
        reply |= {"thread_ts": first.ts, "ts": "1800000000.1"}
        assert (await slack.send.event({**reply, "user": "U2", "text": "nice"})).status == 200
        mine = {**reply, "user": "U1", "text": "My version: ship small &amp; measure."}
        assert (await slack.send.event(mine)).status == 200
        saved = await emulator.wait_for(lambda c: "Saved your edit" in c.text)
        assert saved.params.get("thread_ts") == first.ts
        [edit] = slack.twin.drafts.feedback_for(record.id)
        assert (edit.user, edit.edited_text) == ("slack:U1", "My version: ship small & measure.")


@pytest.mark.slow
async def test_help_posts_in_channel_or_by_response_url_where_the_bot_is_not(
    smol: Generator, emulator: SlackEmulator, slack_env: None
) -> None:
    emulator.not_in.add("C9")
    async with running(smol, emulator) as slack:
        assert (await slack.send.command("help")).status == 200
        call = await emulator.wait_for(is_post("C1"))
        assert "search &lt;query&gt;" in section_text(call)  # escaped for mrkdwn
        assert from_mrkdwn(section_text(call)) == HELP

        assert (await slack.send.command("", channel="C9")).status == 200  # bare /twin: help
        answer = await emulator.wait_for(lambda c: c.method == "response_url")
        assert answer.params["text"].startswith("Send me a prompt")
        assert answer.params["response_type"] == "in_channel"


@pytest.mark.slow
async def test_thumbs_up_stores_a_rating_and_regenerate_drafts_again_in_the_thread(
    smol: Generator, emulator: SlackEmulator, slack_env: None
) -> None:
    async with running(smol, emulator) as slack:
        draft = saved_draft(slack.twin)
        sent = await slack.send.interaction(slack.send.click("fb_up", draft.id, ts="1.2"))
        assert sent.status == 200
        noted = await emulator.wait_for(lambda c: c.method == "chat.postEphemeral")
        assert noted.text.startswith("Noted 👍")
        assert (noted.params["user"], noted.params["thread_ts"]) == ("U1", "1.2")
        [feedback] = slack.twin.drafts.feedback_for(draft.id)
        assert (feedback.rating, feedback.user) == (1, "slack:U1")

        # 🔁 writes another draft for the same prompt, streamed into the draft's thread.
        regenerate = slack.send.click("fb_regenerate", draft.id, ts="1.2")
        assert (await slack.send.interaction(regenerate)).status == 200
        first = await emulator.wait_for(is_post("C1", thread_ts="1.2"))
        final = await emulator.wait_for(is_final)
        assert final.ts == first.ts
        another = slack.twin.drafts.recent(1)[0]
        assert another.id != draft.id and another.prompt == draft.prompt
        assert slack.twin.drafts.feedback_for(draft.id)[-1].comment == "regenerate"


@pytest.mark.slow
async def test_edit_button_opens_a_modal_and_its_submission_is_stored(
    smol: Generator, emulator: SlackEmulator, slack_env: None
) -> None:
    async with running(smol, emulator) as slack:
        draft = saved_draft(slack.twin)
        click = slack.send.click("fb_edit", draft.id, ts="1.2")
        assert (await slack.send.interaction(click)).status == 200
        opened = await emulator.wait_for(lambda c: c.method == "views.open")
        assert opened.params["trigger_id"] == click["trigger_id"]
        view = opened.params["view"]
        view = json.loads(view) if isinstance(view, str) else view
        element = view["blocks"][0]["element"]
        assert (element["type"], element["multiline"]) == ("plain_text_input", True)
        assert element["initial_value"] == draft.output

        def submission(value: str) -> dict[str, Any]:
            state = {"values": {"twin_edit_text": {"text": {"type": "x", "value": value}}}}
            return {
                "type": "view_submission",
                "team": {"id": TEAM},
                "user": {"id": "U1", "username": "sam", "team_id": TEAM},
                "trigger_id": "t2",
                "view": {**view, "id": "V1", "state": state},
            }

        empty = await slack.send.interaction(submission("  "))
        assert empty.status == 200 and json.loads(empty.body)["response_action"] == "errors"
        sent = await slack.send.interaction(submission("Ship the smallest model first."))
        assert sent.status == 200
        saved = await emulator.wait_for(lambda c: "Saved your edit" in c.text)
        assert saved.method == "chat.postEphemeral" and saved.params["thread_ts"] == "1.2"
        [feedback] = slack.twin.drafts.feedback_for(draft.id)
        assert feedback.edited_text == "Ship the smallest model first."


@pytest.mark.slow
async def test_mention_is_answered_in_its_thread_and_dms_in_the_dm(
    smol: Generator, emulator: SlackEmulator, slack_env: None
) -> None:
    async with running(smol, emulator, ingest_sample=True) as slack:
        mention = {"type": "app_mention", "user": "U1", "channel": "C1", "ts": "1700.5"}
        mention["text"] = f"<@{BOT_USER}> search shipping the small model"
        assert (await slack.send.event(mention)).status == 200
        found = await emulator.wait_for(is_post("C1", thread_ts="1700.5"))
        assert re.search(r"<file://[^|>]+\|Ship the small model first>", section_text(found))

        ignored = {"type": "message", "channel": "D1", "channel_type": "im", "ts": "1.1"}
        await slack.send.event({**ignored, "user": "U1", "subtype": "message_changed"})
        await slack.send.event({**ignored, "user": "U5", "bot_id": "B2", "text": "help"})
        dm = {**ignored, "user": "U1", "text": "help", "ts": "1.2"}
        assert (await slack.send.event(dm)).status == 200
        answer = await emulator.wait_for(is_post("D1"))
        assert answer.text.startswith("Send me a prompt")
        assert len(emulator.calls_to("chat.postMessage")) == 2


@pytest.mark.slow
async def test_a_user_not_on_the_allowlist_is_refused_and_nothing_generates(
    smol: Generator, emulator: SlackEmulator, slack_env: None
) -> None:
    async with running(smol, emulator) as slack:
        sent = await slack.send.command("draft why small models win", user="U9")
        assert sent.status == 200
        refusal = await emulator.wait_for(is_post("C1"))
        assert refusal.text == REFUSAL
        assert slack.twin.drafts.recent() == []
        assert slack.handler.drafts_in_flight == 0
        assert emulator.calls_to("chat.update") == []


@pytest.mark.slow
async def test_bad_signatures_stale_requests_and_malformed_bodies_are_refused(
    smol: Generator, emulator: SlackEmulator, slack_env: None
) -> None:
    async with running(smol, emulator) as slack:
        before = len(emulator.calls)
        fields = urlencode(slack.send.command_fields("help"))
        form = "application/x-www-form-urlencoded"
        bad = await slack.send.post(fields, form, secret="not-the-secret")
        stale = await slack.send.post(fields, form, timestamp=int(time.time()) - 6 * 60)
        garbled = await slack.send.post("payload=%7Bnot-json", form)
        unsigned_garbage = await slack.send.post("{oops", "application/json", secret="x")
        assert (bad.status, stale.status) == (401, 401)
        assert (garbled.status, unsigned_garbage.status) == (400, 401)
        # Signed but not what a mention looks like: acked, the failure only logged.
        assert (await slack.send.event({"type": "app_mention", "text": "hi"})).status == 200
        assert (await slack.send.event({"type": "message", "user": "U1"})).status == 200
        # Still answering; and the only Web API call after all that is this help's.
        assert (await slack.send.command("help")).status == 200
        await emulator.wait_for(is_post("C1"))
        assert [c.method for c in emulator.calls[before:]] == ["chat.postMessage"]


@pytest.mark.slow
async def test_a_rate_limited_edit_is_waited_out_and_the_final_text_arrives(
    smol: Generator, emulator: SlackEmulator, slack_env: None
) -> None:
    async with running(smol, emulator) as slack:
        emulator.rate_limit_once("chat.update", retry_after=1)
        assert (await slack.send.command("draft why small models win")).status == 200
        final = await emulator.wait_for(is_final)
        [limited] = [c for c in emulator.calls_to("chat.update") if c.status == 429]
        assert final.method == "chat.update" and final.at - limited.at >= 0.95
        soon = [c for c in emulator.calls_to("chat.update") if 0 < c.at - limited.at < 0.95]
        assert soon == []  # no edit before Retry-After was up
        record = slack.twin.drafts.recent(1)[0]
        assert section_text(final) == to_mrkdwn(record.output).strip()


@pytest.mark.slow
async def test_shutdown_cancels_the_replies_in_flight(
    smol: Generator, emulator: SlackEmulator, slack_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(slack_adapter, "SHUTDOWN_GRACE", 0.2)
    async with running(smol, emulator, {"drafting.max_new_tokens": "400"}) as slack:
        assert (await slack.send.command("draft a long essay on small models")).status == 200
        await emulator.wait_for(is_post("C1"))
        assert slack.handler.drafts_in_flight == 1
    assert slack.handler.drafts_in_flight == 0  # its reply task was cancelled, and the draft


@pytest.mark.slow
async def test_socket_mode_acks_envelopes_and_answers(
    smol: Generator, emulator: SlackEmulator, slack_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TWIN_SLACK__APP_TOKEN", APP_TOKEN)
    monkeypatch.delenv("TWIN_SLACK__SIGNING_SECRET")  # Socket Mode needs none
    async with running(smol, emulator) as slack:
        assert slack.started == "Socket Mode"
        fields = slack.send.command_fields("help")
        seconds = await emulator.deliver("slash_commands", fields)
        assert seconds < 3
        answer = await emulator.wait_for(is_post("C1"))
        assert answer.text.startswith("Send me a prompt")


@pytest.mark.slow
async def test_missing_or_refused_tokens_stop_the_start_with_the_fix(
    smol: Generator, emulator: SlackEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = {"slack.base_url": emulator.base_url, "slack.port": "0"}
    async with chat_handler(smol, settings, ingest_sample=False) as (handler, twin):
        for env, fix in (
            ({"BOT_TOKEN": "xoxb-wrong", "SIGNING_SECRET": "s"}, "TWIN_SLACK__BOT_TOKEN"),
            ({"BOT_TOKEN": BOT_TOKEN}, "TWIN_SLACK__SIGNING_SECRET"),
            ({"BOT_TOKEN": BOT_TOKEN, "APP_TOKEN": "xapp-wrong"}, "TWIN_SLACK__APP_TOKEN"),
        ):
            for key in ("BOT_TOKEN", "SIGNING_SECRET", "APP_TOKEN"):
                monkeypatch.delenv(f"TWIN_SLACK__{key}", raising=False)
            for key, value in env.items():
                monkeypatch.setenv(f"TWIN_SLACK__{key}", value)
            async with AsyncExitStack() as stack:
                with pytest.raises(ConfigError, match=fix):
                    await start_slack(twin.config, handler, stack, host="127.0.0.1")


# --- rendering, without Slack -------------------------------------------------------------


def test_mrkdwn_conversion() -> None:
    assert to_mrkdwn("**bold** and *it* and ~~gone~~") == "*bold* and _it_ and ~gone~"
    assert to_mrkdwn("a < b && c > d") == "a &lt; b &amp;&amp; c &gt; d"
    assert to_mrkdwn("- Evals first <https://x.dev/a?b=1&c=2>") == (
        "• <https://x.dev/a?b=1&amp;c=2|Evals first>"
    )
    assert to_mrkdwn("1. **R&D** <https://x.dev/r>\nsnippet") == (
        "1. <https://x.dev/r|*R&amp;D*>\nsnippet"
    )
    assert to_mrkdwn("see [the post](https://x.dev/p) or <https://y.dev>") == (
        "see <https://x.dev/p|the post> or <https://y.dev>"
    )
    assert to_mrkdwn("# Title\nuse `a<b>` here") == "*Title*\nuse `a&lt;b&gt;` here"
    assert to_mrkdwn("```\n**x** <y>\n```") == "```\n**x** &lt;y&gt;\n```"
    assert from_mrkdwn("ingest <https://x.dev/a|x.dev/a> &amp; <https://y.dev|the post>") == (
        "ingest https://x.dev/a & the post (https://y.dev)"
    )


def test_split_text_joins_back_and_never_cuts_a_link_or_an_entity() -> None:
    link = "<https://example.com/a-rather-long-path|a title with spaces>"
    text = ("word &amp; " * 40 + link + " ") * 20
    pieces = split_text(text, 300)
    assert "".join(pieces) == text
    assert all(len(p) <= 300 for p in pieces)
    for piece in pieces:
        assert piece.count("<") == piece.count(">")
        assert not re.search(r"&[a-z]*$", piece)
    assert split_text("", 10) == [""]


def test_a_long_draft_fills_sections_within_slack_limits_and_keeps_all_its_text() -> None:
    words = [f"word{i}" for i in range(1700)]
    text = "\n\n".join(" ".join(words[i : i + 100]) for i in range(0, len(words), 100))
    assert len(text) > 10_000
    final = DraftFinal("d1", text, "article", (SourceRef("https://x.dev", "X"),), (), "stop")
    [message] = draft_messages(final)
    sections = [b["text"]["text"] for b in message.blocks if b["type"] == "section"]
    assert len(sections) >= 4 and all(len(s) <= SECTION_LIMIT for s in sections)
    assert " ".join(sections).split() == text.split()
    assert message.text and len(message.text) <= SECTION_LIMIT
    assert [b["type"] for b in message.blocks[-2:]] == ["context", "actions"]

    huge = DraftFinal("d2", text * 12, "article", (), (), "length")
    messages = draft_messages(huge)
    assert len(messages) > 1 and all(len(m.blocks) <= BLOCKS_PER_MESSAGE for m in messages)
    every = [b["text"]["text"] for m in messages for b in m.blocks if b["type"] == "section"]
    assert " ".join(every).split() == (text * 12).split()
    assert messages[-1].blocks[-1]["type"] == "actions"
    assert say_messages("")[0].blocks  # even an empty reply is a valid message


async def test_overflow_goes_to_the_drafts_thread_and_edits_are_throttled(
    emulator: SlackEmulator,
) -> None:
    client = AsyncWebClient(token=BOT_TOKEN, base_url=emulator.base_url)
    words = " ".join(f"w{i}" for i in range(40_000))
    final = DraftFinal("d3", words, "article", (), (), "stop")

    async def outs() -> AsyncIterator[Out]:
        for n in range(1, 6):  # five updates in a burst: one post, no edit (interval 60 s)
            yield DraftUpdate(words[: n * 10])
        yield final
        yield Say("done")

    await deliver(outs(), Target(client, "C1"), interval=60)
    first, *rest = emulator.calls_to("chat.postMessage")
    [settle] = emulator.calls_to("chat.update")
    assert settle.ts == first.ts and len(settle.blocks) == BLOCKS_PER_MESSAGE
    *overflow, done = rest
    assert overflow and all(c.params.get("thread_ts") == first.ts for c in overflow)
    assert done.text == "done" and "thread_ts" not in done.params

    respond = AsyncRespond(response_url=emulator.response_url())
    emulator.not_in.add("C2")
    await deliver(outs(), Target(client, "C2", respond=respond), interval=60)
    via_url = emulator.calls_to("response_url")
    assert len(via_url) == len(draft_messages(final)) + 1  # the settled draft and "done"
    assert via_url[0].params["blocks"] and via_url[-1].params["text"] == "done"
