"""Receiving Telegram updates by webhook, on aiohttp (PTB's own webhook server needs
tornado, which we do not install).

Telegram POSTs each update to `telegram.webhook_url` (usually a TLS reverse proxy in front
of `telegram.webhook_port`), with the secret we gave `setWebhook` in the
X-Telegram-Bot-Api-Secret-Token header; anything without it is refused.
"""

from __future__ import annotations

import hmac
import logging
import re
import secrets
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AsyncExitStack
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from telegram import Update
from telegram.ext import Application

from bot.config import Config, secret
from core.errors import ConfigError

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
_SECRET_FORMAT = re.compile(r"[A-Za-z0-9_-]{1,256}")

App = Application[Any, Any, Any, Any, Any, Any]


async def start_webhook(
    app: App, config: Config, stack: AsyncExitStack, allowed_updates: Sequence[str]
) -> str:
    """Serve the webhook endpoint, then point Telegram at it. Returns where it listens."""
    url = config.telegram.webhook_url
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            f"config key telegram.webhook_url must be a full URL such as "
            f"https://bot.example.com/telegram, got {url!r}"
        )
    # Without a configured secret a fresh one per start works just as well: we hand it to
    # setWebhook ourselves on every start.
    token = secret("telegram", "webhook_secret") or secrets.token_urlsafe(32)
    if not _SECRET_FORMAT.fullmatch(token):
        raise ConfigError(
            "TWIN_TELEGRAM__WEBHOOK_SECRET must be 1-256 characters of A-Z, a-z, 0-9, _ and -"
        )
    endpoint = web.Application(client_max_size=1024 * 1024)
    endpoint.router.add_post(parts.path or "/", _receiver(app, token))
    runner = web.AppRunner(endpoint, access_log=None)
    await runner.setup()
    stack.push_async_callback(runner.cleanup)
    # Every IPv4 interface (Telegram's webhooks are IPv4): Telegram, or the TLS proxy in
    # front, must reach it; the secret token guards it.
    site = web.TCPSite(runner, "0.0.0.0", config.telegram.webhook_port)
    try:
        await site.start()
    except OSError as exc:
        raise ConfigError(
            f"cannot listen on telegram.webhook_port {config.telegram.webhook_port} "
            f"({exc.strerror or exc}); pick a free port"
        ) from exc
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    await app.bot.set_webhook(url, allowed_updates=list(allowed_updates), secret_token=token)
    return f"webhook at {url} (listening on port {port})"


def _receiver(app: App, token: str) -> Callable[[web.Request], Awaitable[web.Response]]:
    expected = token.encode()

    async def receive(request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER, "").encode()
        if not hmac.compare_digest(given, expected):
            log.warning("webhook call without the right secret from %s", request.remote)
            return web.Response(status=403, text="wrong or missing secret token")
        try:
            data = await request.json()
            update = Update.de_json(data, app.bot)
        except Exception as exc:  # whatever the body was, it is not an update we can use
            log.warning("webhook body is not a Telegram update: %s", exc)
            return web.Response(status=400, text="not a Telegram update")
        await app.update_queue.put(update)
        return web.Response(text="ok")

    return receive
