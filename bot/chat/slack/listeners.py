"""What each kind of Slack request turns into: the `/twin` command, mentions, DMs, thread
replies to a draft, the feedback buttons and the edit modal.

Every listener acknowledges first and hands the rest (reading the payload included, so a
malformed one fails in the background, logged, after Slack has its 200) to `spawn`.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot.chat.handler import ChatHandler
from bot.chat.replies import ChatUser, DraftFinal, Out
from bot.chat.slack.blocks import (
    ACTION_IDS,
    EDIT_BLOCK,
    EDIT_CALLBACK,
    EDIT_INPUT,
    EDIT_INPUT_LIMIT,
    edit_modal,
)
from bot.chat.slack.mrkdwn import from_mrkdwn
from bot.chat.slack.stream import DraftThreads, Target, deliver

Spawn = Callable[[Coroutine[Any, Any, None]], None]
_MENTION = re.compile(r"<@(?P<id>[UW][A-Z0-9]+)(?:\|[^>]*)?>")
_SEEN_EVENTS = 5000


class Listeners:
    def __init__(
        self, handler: ChatHandler, client: AsyncWebClient, *, spawn: Spawn, edit_interval: float
    ) -> None:
        self.handler = handler
        self.client = client
        self.spawn = spawn
        self.edit_interval = edit_interval
        self.bot_user_id = ""  # from auth.test: mentions of it are stripped from messages
        self.threads = DraftThreads()
        self._seen_events: OrderedDict[str, None] = OrderedDict()

    def register(self, app: AsyncApp, command: str = "/twin") -> None:
        app.command(command)(self._on_command)
        app.event("app_mention")(self._on_mention)
        app.event("message")(self._on_message)
        app.action(re.compile(r"^fb_(up|down|regenerate|edit)$"))(self._on_button)
        app.view(EDIT_CALLBACK)(self._on_edit_submitted)

    # --- bolt listeners: ack, then hand off ---------------------------------------------

    async def _on_command(
        self, ack: AsyncAck, command: dict[str, Any], respond: AsyncRespond
    ) -> None:
        await ack()
        self.spawn(self._command(command, respond))

    async def _on_mention(self, ack: AsyncAck, event: dict[str, Any], body: dict[str, Any]) -> None:
        await ack()
        self.spawn(self._mention(event, body))

    async def _on_message(self, ack: AsyncAck, event: dict[str, Any], body: dict[str, Any]) -> None:
        await ack()
        self.spawn(self._message(event, body))

    async def _on_button(
        self,
        ack: AsyncAck,
        body: dict[str, Any],
        action: dict[str, Any],
        respond: AsyncRespond | None = None,
    ) -> None:
        await ack()
        self.spawn(self._button(body, action, respond))

    async def _on_edit_submitted(
        self, ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]
    ) -> None:
        value = _dig(view, "state", "values", EDIT_BLOCK, EDIT_INPUT, "value")
        if not isinstance(value, str) or not value.strip():
            await ack(response_action="errors", errors={EDIT_BLOCK: "Write your version."})
            return
        await ack()  # closes the modal
        self.spawn(self._edit_submitted(body, view, value))

    # --- the work -----------------------------------------------------------------------

    async def _command(self, command: dict[str, Any], respond: AsyncRespond) -> None:
        user = ChatUser(
            "slack", command["user_id"], command.get("user_name", ""), command.get("team_id", "")
        )
        text = from_mrkdwn(command.get("text", "")).strip() or "help"
        target = Target(self.client, command["channel_id"], respond=respond)
        await self._deliver(user, self.handler.handle(user, text), target)

    async def _mention(self, event: dict[str, Any], body: dict[str, Any]) -> None:
        if self._seen(body) or not event.get("user"):
            return
        user = self._user(event, body)
        target = Target(self.client, event["channel"], event.get("thread_ts") or event["ts"])
        await self._deliver(user, self.handler.handle(user, self._text(event) or "help"), target)

    async def _message(self, event: dict[str, Any], body: dict[str, Any]) -> None:
        if event.get("subtype") or event.get("bot_id") or not event.get("user"):
            return  # edits, joins, other bots, our own messages
        if self._seen(body):
            return
        channel, thread = event["channel"], event.get("thread_ts")
        user = self._user(event, body)
        mentioned = self.bot_user_id and f"<@{self.bot_user_id}" in event.get("text", "")
        if thread and not mentioned:  # (a mention is answered as app_mention)
            draft_id = self.threads.draft_for(channel, thread, user.id)
            if draft_id is not None:  # their own version, replied in the draft's thread
                outs = self.handler.feedback(user, draft_id, "edit", self._text(event))
                await self._deliver(user, outs, Target(self.client, channel, thread))
                return
        if event.get("channel_type") == "im":
            outs = self.handler.handle(user, self._text(event) or "help")
            await self._deliver(user, outs, Target(self.client, channel, thread))

    async def _button(
        self, body: dict[str, Any], action: dict[str, Any], respond: AsyncRespond | None
    ) -> None:
        choice = ACTION_IDS[action["action_id"]]
        draft_id = str(action.get("value", ""))
        user = self._actor(body)
        container = body.get("container") or {}
        message = body.get("message") or {}
        channel = (body.get("channel") or {}).get("id") or container.get("channel_id", "")
        thread = message.get("thread_ts") or message.get("ts") or container.get("message_ts")
        target = Target(self.client, channel, thread, user=user.id, respond=respond)
        if choice == "edit":
            await self._open_editor(user, draft_id, body.get("trigger_id", ""), target)
            return
        target.ephemeral = choice != "regenerate"  # a regenerated draft goes in the thread
        await self._deliver(user, self.handler.feedback(user, draft_id, choice), target)

    async def _open_editor(
        self, user: ChatUser, draft_id: str, trigger_id: str, target: Target
    ) -> None:
        """✏️: a modal holding the draft; where that cannot be (not allowed, not found, too
        long for the input), the handler's answer says what to do instead."""
        draft = None
        if self.handler.allowed(user):
            draft = await asyncio.to_thread(self.handler.twin.drafts.get, draft_id)
        if draft is None or len(draft.output) > EDIT_INPUT_LIMIT or not trigger_id:
            target.ephemeral = True
            await self._deliver(user, self.handler.feedback(user, draft_id, "edit"), target)
            return
        where = json.dumps(
            {"draft": draft_id, "channel": target.channel, "thread": target.thread_ts}
        )
        await self.client.views_open(trigger_id=trigger_id, view=edit_modal(draft.output, where))

    async def _edit_submitted(self, body: dict[str, Any], view: dict[str, Any], text: str) -> None:
        where = json.loads(view.get("private_metadata") or "{}")
        user = self._actor(body)
        target = Target(self.client, where["channel"], where.get("thread"), user=user.id)
        target.ephemeral = True
        outs = self.handler.feedback(user, str(where["draft"]), "edit", text)
        await self._deliver(user, outs, target)

    async def _deliver(self, user: ChatUser, outs: AsyncIterator[Out], target: Target) -> None:
        def remember(posted: list[str], final: DraftFinal) -> None:
            # Replies to the draft (or in the thread it was drafted in) are edits of it.
            roots = posted + ([target.thread_ts] if target.thread_ts else [])
            self.threads.remember(target.channel, roots, final.draft_id, user.id)

        await deliver(outs, target, interval=self.edit_interval, on_draft=remember)

    # --- reading payloads ---------------------------------------------------------------

    def _seen(self, body: dict[str, Any]) -> bool:
        """Slack re-sends an event it thinks was lost: each event_id is handled once."""
        event_id = str(body.get("event_id") or "")
        if not event_id:
            return False
        if event_id in self._seen_events:
            return True
        self._seen_events[event_id] = None
        if len(self._seen_events) > _SEEN_EVENTS:
            self._seen_events.popitem(last=False)
        return False

    def _user(self, event: dict[str, Any], body: dict[str, Any]) -> ChatUser:
        team = event.get("team") or event.get("user_team") or body.get("team_id", "")
        return ChatUser("slack", str(event["user"]), "", str(team))

    def _actor(self, body: dict[str, Any]) -> ChatUser:
        """Who clicked or submitted (interaction payloads)."""
        who = body["user"]
        team = who.get("team_id") or (body.get("team") or {}).get("id", "")
        return ChatUser("slack", str(who["id"]), who.get("username") or who.get("name", ""), team)

    def _text(self, event: dict[str, Any]) -> str:
        """The message without mentions of this bot (`<@BOT>`), as typed."""
        text = _MENTION.sub(
            lambda m: "" if m["id"] == self.bot_user_id else m.group(0), event.get("text", "")
        )
        return from_mrkdwn(text).strip()


def _dig(data: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data
