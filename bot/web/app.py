"""The local web app: the page, its static files and its JSON API, behind a token.

`/` serves the page (static/index.html) to anyone: without a token it shows how to get
in. Everything under `/api/` needs `Authorization: Bearer <token>` (the token kept in
$TWIN_HOME/web_token, bot/web/access.py), speaks JSON, and answers bad input with
`{"error": "<one line>"}`; replies from the command layer stream back as server-sent
events (bot/web/sse.py). Every response carries a Content-Security-Policy that allows
only this origin's own scripts and styles (no inline script, no eval), and
`nosniff`/`no-referrer`/`DENY` framing headers. `/healthz` and `/metrics` need no token
(they reveal nothing but counts) and stay up with the page disabled.

The routes live with what they serve: api_drafts (message, draft, feedback, history),
api_sources, api_training (dataset, runs, models), api_settings, api_status (status,
schedules, style), api_cli (the command line's search, draft, ingest and recrawl).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from importlib import resources
from pathlib import Path

from aiohttp import web
from aiohttp.typedefs import Middleware

from bot.chat.handler import ChatHandler
from bot.metrics import CONTENT_TYPE_LATEST, Metrics
from bot.twin import Twin
from bot.web import api_cli, api_drafts, api_settings, api_sources, api_status, api_training
from bot.web.access import WebToken
from bot.web.bad_input import ApiError
from bot.web.context import WebContext
from core.errors import ConfigError, InputError, TwinError

log = logging.getLogger(__name__)

_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "manifest-src 'self'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "object-src 'none'",
    )
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}
_JSON_LIMIT = 1024 * 1024  # bodies read whole (JSON); uploads stream (bot/web/uploads.py)
_UNAUTHORIZED = (
    "missing or wrong token: open the address `llm-twin serve` printed (it ends in "
    "#token=…), or run `llm-twin web-token` to see it"
)


def build_web_app(
    handler: ChatHandler | None, twin: Twin, metrics: Metrics, *, token: WebToken
) -> web.Application:
    """The page and its API (`handler` None: only /healthz and /metrics)."""
    app = web.Application(client_max_size=_JSON_LIMIT, middlewares=[_api_errors, _guard(token)])
    app.on_response_prepare.append(_security_headers)
    app.router.add_get("/healthz", _healthz)

    async def serve_metrics(_: web.Request) -> web.Response:
        body = await asyncio.to_thread(metrics.render)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    app.router.add_get("/metrics", serve_metrics)
    if handler is None:
        return app
    app.router.add_get("/", _index)
    app.router.add_static("/static/", _static_folder(), follow_symlinks=False)
    context = WebContext(handler, twin)
    for module in (api_drafts, api_sources, api_training, api_settings, api_status, api_cli):
        module.add_routes(app, context)
    return app


def _static_folder() -> Path:
    return Path(str(resources.files("bot.web").joinpath("static")))


async def _healthz(_: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def _index(_: web.Request) -> web.Response:
    page = (_static_folder() / "index.html").read_text("utf-8")
    return web.Response(text=page, content_type="text/html", charset="utf-8")


async def _security_headers(request: web.Request, response: web.StreamResponse) -> None:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if request.path.startswith("/api/") or request.path == "/":
        response.headers.setdefault("Cache-Control", "no-store")


def _guard(token: WebToken) -> Middleware:
    @web.middleware
    async def guard(request: web.Request, handler: _Handler) -> web.StreamResponse:
        if request.path.startswith("/api/"):
            given = request.headers.get("Authorization", "")
            scheme, _, value = given.partition(" ")
            if scheme != "Bearer" or not token.matches(value.strip()):
                raise ApiError(401, _UNAUTHORIZED)
        return await handler(request)

    return guard


@web.middleware
async def _api_errors(request: web.Request, handler: _Handler) -> web.StreamResponse:
    """Every refusal under /api/ as `{"error": ...}` JSON: ours, aiohttp's (unknown route,
    wrong method, body too large) and the twin's own errors."""
    try:
        return await handler(request)
    except ApiError as exc:
        return exc.response()
    except web.HTTPException as exc:
        if not request.path.startswith("/api/") or exc.status < 400:
            raise
        reason = _http_reason(exc, request)
        return web.json_response({"error": reason}, status=exc.status, headers=_allow(exc))
    except InputError as exc:
        return web.json_response({"error": str(exc)}, status=400)
    except ConfigError as exc:
        return web.json_response({"error": str(exc)}, status=422)
    except TwinError as exc:
        log.error("%s %s: %s", request.method, request.path, exc)
        return web.json_response({"error": str(exc)}, status=500)


def _http_reason(exc: web.HTTPException, request: web.Request) -> str:
    if exc.status == 404:
        return f"{request.path}: no such API route; the README lists them"
    if exc.status == 405:
        return f"{request.method} is not allowed on {request.path}"
    if exc.status == 413:
        return f"the request body is too large (at most {_JSON_LIMIT // 1024} kB of JSON)"
    return exc.reason


def _allow(exc: web.HTTPException) -> dict[str, str]:
    allow = exc.headers.get("Allow")
    return {"Allow": allow} if allow else {}
