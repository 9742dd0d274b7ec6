"""The Slack front end: slack-bolt's `AsyncApp`, over HTTP events or Socket Mode.

Every listener acknowledges at once (Slack wants an answer within 3 seconds, whatever
the model is doing) and hands the work to a background task that this adapter keeps and
cancels on shutdown. Replies go through `bot.slack.stream` (where to post, draft
streaming) and `bot.slack.blocks` (Block Kit).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections import OrderedDict
from collections.abc import AsyncIterator, Coroutine
from contextlib import AsyncExitStack
from typing import Any

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_bolt.middleware.authorization.async_single_team_authorization import (
    AsyncSingleTeamAuthorization,
)
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from bot.chat.handler import ChatHandler
from bot.chat.replies import ChatUser, DraftFinal, Out
from bot.config import Config, secret
from bot.slack import blocks
from bot.slack.mrkdwn import from_mrkdwn
from bot.slack.stream import DraftThreads, Target, deliver
from retrieval.errors import ConfigError

log = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"
SLACK_API = "https://slack.com/api/"
SHUTDOWN_GRACE = 5.0  # seconds replies in flight get to finish on shutdown
_MENTION = re.compile(r"<@(?P<id>[UW][A-Z0-9]+)(?:\|[^>]*)?>")


async def start_slack(
    config: Config,
    handler: ChatHandler,
    stack: AsyncExitStack,
    *,
    host: str = "0.0.0.0",
) -> str:
    """Start Slack as `serve` does; what started, in a line. Socket Mode when
    TWIN_SLACK__APP_TOKEN is set, else HTTP events on `slack.port` (0: a free port)."""
    bot_token = secret("slack", "bot_token")
    if not bot_token:
        raise ConfigError("Slack needs a bot token: set TWIN_SLACK__BOT_TOKEN (xoxb-...)")
    app_token = secret("slack", "app_token")
    signing_secret = secret("slack", "signing_secret")
    if not app_token and not signing_secret:
        raise ConfigError(
            "Slack needs TWIN_SLACK__SIGNING_SECRET for HTTP events "
            "(or TWIN_SLACK__APP_TOKEN, xapp-..., for Socket Mode)"
        )
    adapter = SlackAdapter(
        handler,
        client=AsyncWebClient(token=bot_token, base_url=config.slack.base_url or SLACK_API),
        signing_secret=signing_secret or "",
        edit_interval=config.chat.edit_interval,
    )
    stack.push_async_callback(adapter.aclose)
    await adapter.check_token()
    if app_token:
        return await adapter.connect_socket_mode(app_token)
    return await adapter.serve_http(host, config.slack.port)


class SlackAdapter:
    def __init__(
        self,
        handler: ChatHandler,
        *,
        client: AsyncWebClient,
        signing_secret: str,
        edit_interval: float = 1.0,
        command: str = "/twin",
    ) -> None:
        self.handler = handler
        self.client = client
        self.edit_interval = edit_interval
        self.app = AsyncApp(
            name="llm-twin", client=client, signing_secret=signing_secret, logger=log
        )
        self._verifier = SignatureVerifier(signing_secret)
        self._tasks: set[asyncio.Task[None]] = set()
        self._threads = DraftThreads()
        self._seen_events: OrderedDict[str, None] = OrderedDict()
        self._closers: list[Any] = []
        self.bot_user_id = ""
        self.app.command(command)(self._on_command)
        self.app.event("app_mention")(self._on_mention)
        self.app.event("message")(self._on_message)
        self.app.action(re.compile(r"^fb_(up|down|regenerate|edit)$"))(self._on_button)
        self.app.view(blocks.EDIT_CALLBACK)(self._on_edit_submitted)
        self.app.error(self._on_error)

    # --- lifecycle -----------------------------------------------------------------------

    async def check_token(self) -> None:
        """auth.test once at start: a wrong token stops here with the fix."""
        try:
            identity = await self.client.auth_test()
        except SlackApiError as exc:
            raise ConfigError(
                f"Slack refused TWIN_SLACK__BOT_TOKEN ({exc.response.get('error')}); "
                "copy the Bot User OAuth Token from the app's OAuth & Permissions page"
            ) from exc
        self.bot_user_id = str(identity.get("user_id") or "")
        # bolt would call auth.test again on the first request; hand it this answer.
        for middleware in self.app._async_middleware_list:
            if isinstance(middleware, AsyncSingleTeamAuthorization):
                middleware.auth_test_result = identity

    async def serve_http(self, host: str, port: int) -> str:
        web_app = web.Application(client_max_size=1024 * 1024)
        web_app.router.add_post(EVENTS_PATH, self._http_events)
        runner = web.AppRunner(web_app, access_log=None, shutdown_timeout=SHUTDOWN_GRACE)
        await runner.setup()
        self._closers.append(runner.cleanup)
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return f"HTTP events at http://{host}:{bound}{EVENTS_PATH}"

    async def connect_socket_mode(self, app_token: str) -> str:
        from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler

        socket = AsyncSocketModeHandler(self.app, app_token, web_client=self.client)
        self._closers.append(socket.close_async)
        await socket.connect_async()  # type: ignore[no-untyped-call]
        return "Socket Mode"

    async def aclose(self) -> None:
        """Stop taking requests, give replies in flight a moment, cancel the rest."""
        for close in reversed(self._closers):
            await close()
        self._closers.clear()
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=SHUTDOWN_GRACE)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    # --- HTTP ---------------------------------------------------------------------------

    async def _http_events(self, request: web.Request) -> web.Response:
        raw = await request.text()
        # bolt's own lazy-listener headers are never taken from outside
        headers = {
            k: v for k, v in request.headers.items() if not k.lower().startswith("x-slack-bolt-")
        }
        try:
            bolt_request = AsyncBoltRequest(
                body=raw, query=request.query_string, headers=dict(headers)
            )
        except Exception as exc:
            if not self._verifier.is_valid_request(raw, headers):
                return web.Response(status=401, text="invalid request")
            log.warning("slack: malformed request body (%s: %s)", type(exc).__name__, exc)
            return web.Response(status=400, text="malformed request")
        try:
            response = await self.app.async_dispatch(bolt_request)
        except Exception:
            log.exception("slack: dispatching a request failed")
            return web.Response(status=500, text="internal error")
        return await to_aiohttp_response(response)

    # --- listeners (each acks first, then works in a task) -----------------------------

    async def _on_command(
        self, ack: AsyncAck, command: dict[str, Any], respond: AsyncRespond
    ) -> None:
        await ack()
        user = ChatUser(
            "slack", command["user_id"], command.get("user_name", ""), command.get("team_id", "")
        )
        text = from_mrkdwn(command.get("text", "")).strip() or "help"
        target = Target(self.client, command.get("channel_id", ""), respond=respond)
        self._run(user, self.handler.handle(user, text), target)

    async def _on_mention(self, ack: AsyncAck, event: dict[str, Any], body: dict[str, Any]) -> None:
        await ack()
        if self._seen(body) or not event.get("user"):
            return
        user = self._user(event, body)
        text = self._text(event) or "help"
        target = Target(self.client, event["channel"], event.get("thread_ts") or event["ts"])
        self._run(user, self.handler.handle(user, text), target)

    async def _on_message(self, ack: AsyncAck, event: dict[str, Any], body: dict[str, Any]) -> None:
        await ack()
        if event.get("subtype") or event.get("bot_id") or not event.get("user"):
            return  # edits, joins, other bots, our own messages
        if self._seen(body):
            return
        channel, thread = event.get("channel", ""), event.get("thread_ts")
        user = self._user(event, body)
        mentioned = self.bot_user_id and f"<@{self.bot_user_id}" in event.get("text", "")
        if thread and not mentioned:
            draft_id = self._threads.draft_for(channel, thread, user.id)
            if draft_id is not None:  # their version of the draft, replied in its thread
                target = Target(self.client, channel, thread)
                self._run(
                    user, self.handler.feedback(user, draft_id, "edit", self._text(event)), target
                )
                return
        if event.get("channel_type") == "im":
            self._run(
                user,
                self.handler.handle(user, self._text(event) or "help"),
                Target(self.client, channel, thread),
            )

    async def _on_button(
        self,
        ack: AsyncAck,
        body: dict[str, Any],
        action: dict[str, Any],
        respond: AsyncRespond | None = None,
    ) -> None:
        await ack()
        choice = blocks.ACTION_IDS[action["action_id"]]
        draft_id = str(action.get("value", ""))
        who = body.get("user") or {}
        user = ChatUser(
            "slack",
            who["id"],
            who.get("username") or who.get("name", ""),
            who.get("team_id") or (body.get("team") or {}).get("id", ""),
        )
        container = body.get("container") or {}
        message = body.get("message") or {}
        channel = (body.get("channel") or {}).get("id") or container.get("channel_id", "")
        thread = message.get("thread_ts") or message.get("ts") or container.get("message_ts")
        target = Target(self.client, channel, thread, user=user.id, respond=respond)
        if choice == "edit":
            self._spawn(self._open_editor(user, draft_id, body.get("trigger_id", ""), target))
            return
        target.ephemeral = choice != "regenerate"  # a regenerated draft goes in the thread
        self._run(user, self.handler.feedback(user, draft_id, choice), target)

    async def _on_edit_submitted(
        self, ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]
    ) -> None:
        value = view["state"]["values"][blocks.EDIT_BLOCK][blocks.EDIT_INPUT].get("value") or ""
        if not value.strip():
            await ack(
                response_action="errors", errors={blocks.EDIT_BLOCK: "Write your version first."}
            )
            return
        await ack()
        where = json.loads(view.get("private_metadata") or "{}")
        who = body["user"]
        user = ChatUser(
            "slack",
            who["id"],
            who.get("username") or who.get("name", ""),
            who.get("team_id") or (body.get("team") or {}).get("id", ""),
        )
        target = Target(
            self.client, where.get("channel", ""), where.get("thread"), user=user.id, ephemeral=True
        )
        self._run(
            user, self.handler.feedback(user, str(where.get("draft", "")), "edit", value), target
        )

    async def _on_error(self, error: Exception, body: dict[str, Any]) -> None:
        kind = body.get("type") or (body.get("event") or {}).get("type") or body.get("command")
        log.error("slack: a %s request failed", kind or "malformed", exc_info=error)

    # --- work in the background ---------------------------------------------------------

    async def _open_editor(
        self, user: ChatUser, draft_id: str, trigger_id: str, target: Target
    ) -> None:
        """✏️: a modal holding the draft; where that cannot be (not allowed, not found, too
        long for the input), the handler's answer says what to do instead."""
        draft = None
        if self.handler.allowed(user):
            draft = await asyncio.to_thread(self.handler.twin.drafts.get, draft_id)
        if draft is None or len(draft.output) > blocks.EDIT_INPUT_LIMIT or not trigger_id:
            target.ephemeral = True
            await self._deliver(user, self.handler.feedback(user, draft_id, "edit", ""), target)
            return
        where = json.dumps(
            {"draft": draft_id, "channel": target.channel, "thread": target.thread_ts}
        )
        await self.client.views_open(
            trigger_id=trigger_id, view=blocks.edit_modal(draft.output, where)
        )

    def _run(self, user: ChatUser, outs: AsyncIterator[Out], target: Target) -> None:
        self._spawn(self._deliver(user, outs, target))

    async def _deliver(self, user: ChatUser, outs: AsyncIterator[Out], target: Target) -> None:
        def remember(posted: list[str], final: DraftFinal) -> None:
            # Replies to the draft (or in the thread it was drafted in) are edits of it.
            roots = posted + ([target.thread_ts] if target.thread_ts else [])
            self._threads.remember(target.channel, roots, final.draft_id, user.id)

        await deliver(outs, target, interval=self.edit_interval, on_draft=remember)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error("slack: a reply failed", exc_info=exc)

    # --- helpers ------------------------------------------------------------------------

    def _seen(self, body: dict[str, Any]) -> bool:
        """Slack re-sends an event it thinks was lost: each event_id is handled once."""
        event_id = str(body.get("event_id") or "")
        if not event_id:
            return False
        if event_id in self._seen_events:
            return True
        self._seen_events[event_id] = None
        if len(self._seen_events) > 5000:
            self._seen_events.popitem(last=False)
        return False

    def _user(self, event: dict[str, Any], body: dict[str, Any]) -> ChatUser:
        team = event.get("team") or event.get("user_team") or body.get("team_id", "")
        return ChatUser("slack", str(event["user"]), "", str(team))

    def _text(self, event: dict[str, Any]) -> str:
        """The message without mentions of this bot (`<@BOT>`), as typed."""
        text = _MENTION.sub(
            lambda m: "" if m["id"] == self.bot_user_id else m.group(0), event.get("text", "")
        )
        return from_mrkdwn(text).strip()
