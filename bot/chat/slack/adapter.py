"""The Slack front end: slack-bolt's `AsyncApp`, over HTTP events or Socket Mode.

Every listener (`bot.chat.slack.listeners`) acknowledges at once (Slack wants an answer within
3 seconds, whatever the model is doing) and hands the work to a background task that this
adapter keeps, and on shutdown gives a moment to finish, then cancels. Replies go through
`bot.chat.slack.stream` (where to post, draft streaming) and `bot.chat.slack.blocks` (Block Kit).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from contextlib import AsyncExitStack
from typing import Any

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.async_app import AsyncApp
from slack_bolt.middleware.authorization.async_single_team_authorization import (
    AsyncSingleTeamAuthorization,
)
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from bot.chat.handler import ChatHandler
from bot.chat.notify import Notifier
from bot.chat.slack.listeners import Listeners
from bot.chat.slack.notify import SlackNotifier
from bot.config import Config, secret
from core.errors import ConfigError

log = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"
SLACK_API = "https://slack.com/api/"
SHUTDOWN_GRACE = 5.0  # seconds replies in flight get to finish on shutdown


async def start_slack(
    config: Config,
    handler: ChatHandler,
    stack: AsyncExitStack,
    *,
    host: str = "0.0.0.0",
    notifiers: dict[str, Notifier] | None = None,
) -> str:
    """Start Slack as `serve` does; what started, in a line. Socket Mode when
    TWIN_SLACK__APP_TOKEN is set, else HTTP events on `slack.port` (0: a free port). Once
    started, its `SlackNotifier` (posts of the bot's own) is added to `notifiers` under
    "slack"."""
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
        started = await adapter.connect_socket_mode(app_token)
    else:
        started = await adapter.serve_http(host, config.slack.port)
    if notifiers is not None:
        notifiers[SlackNotifier.platform] = adapter.notifier()
    return started


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
        # Every listener acks and hands off to a task of ours at once, so bolt can await it
        # in the request (rather than run it aside and poll for the ack every 10 ms).
        self.app = AsyncApp(
            name="llm-twin",
            client=client,
            signing_secret=signing_secret,
            logger=log,
            process_before_response=True,
        )
        # (Socket Mode needs no signing secret, and the verifier refuses an empty one)
        self._verifier = SignatureVerifier(signing_secret) if signing_secret else None
        self._tasks: set[asyncio.Task[None]] = set()
        self._closers: list[Callable[[], Awaitable[None]]] = []
        self.bot_name = ""  # the bot user's name, from auth.test
        self.listeners = Listeners(handler, client, spawn=self._spawn, edit_interval=edit_interval)
        self.listeners.register(self.app, command)
        self.app.error(self._on_error)

    async def _on_error(self, error: Exception, body: dict[str, Any]) -> None:
        kind = body.get("type") or (body.get("event") or {}).get("type") or body.get("command")
        log.error("slack: a %s request failed", kind or "malformed", exc_info=error)

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
        except (aiohttp.ClientError, OSError) as exc:
            raise ConfigError(
                f"cannot reach Slack at {self.client.base_url} ({exc}); check the network, "
                "or slack.base_url if you set it"
            ) from exc
        self.listeners.bot_user_id = str(identity.get("user_id") or "")
        self.bot_name = str(identity.get("user") or "")
        # bolt would call auth.test again on the first request; hand it this answer.
        for middleware in self.app._async_middleware_list:
            if isinstance(middleware, AsyncSingleTeamAuthorization):
                middleware.auth_test_result = identity

    def notifier(self) -> SlackNotifier:
        """Posts of the bot's own, through this adapter's client."""
        return SlackNotifier(self.client, bot_name=self.bot_name)

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

        try:  # the handler would retry a refused token forever; say so once instead
            await self.client.apps_connections_open(app_token=app_token)
        except SlackApiError as exc:
            raise ConfigError(
                f"Slack refused TWIN_SLACK__APP_TOKEN ({exc.response.get('error')}); it is the "
                "app-level token (xapp-...) with the connections:write scope"
            ) from exc
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
            if self._verifier is None or not self._verifier.is_valid_request(raw, headers):
                return web.Response(status=401, text="invalid request")
            log.warning("slack: malformed request body (%s: %s)", type(exc).__name__, exc)
            return web.Response(status=400, text="malformed request")
        try:
            response = await self.app.async_dispatch(bolt_request)
        except Exception:
            log.exception("slack: dispatching a request failed")
            return web.Response(status=500, text="internal error")
        return await to_aiohttp_response(response)

    # --- background tasks --------------------------------------------------------------

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error("slack: a reply failed", exc_info=exc)
