"""The local web page: zero set-up, on loopback, behind a token printed at start.

The page (static/index.html) talks JSON to the API below; drafts and other replies stream
back as server-sent events, one JSON object per event. `/healthz` and `/metrics` need no
token (they reveal nothing but counts) and stay up even with the page disabled.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
from collections.abc import AsyncGenerator, Awaitable, Callable
from importlib import resources
from typing import Any

from aiohttp import web

from bot.chat.handler import ChatHandler
from bot.chat.replies import FEEDBACK_ACTIONS, ChatUser, DraftFinal, DraftUpdate, Out, Say
from bot.metrics import CONTENT_TYPE_LATEST, Metrics
from bot.twin import Twin

log = logging.getLogger(__name__)

OWNER = ChatUser("web", "owner", "owner (web page)")
_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def build_web_app(
    handler: ChatHandler | None, twin: Twin, metrics: Metrics, *, token: str
) -> web.Application:
    """The page and its API (`handler` None: only /healthz and /metrics)."""
    app = web.Application(client_max_size=1024 * 1024)
    app.router.add_get("/healthz", _healthz)

    async def serve_metrics(_: web.Request) -> web.Response:
        body = await asyncio.to_thread(metrics.render)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    app.router.add_get("/metrics", serve_metrics)
    if handler is None:
        return app
    api = _Api(handler, twin)
    guard = _token_guard(token)
    app.router.add_get("/", _index)
    app.router.add_post("/api/message", guard(api.message))
    app.router.add_post("/api/feedback", guard(api.feedback))
    app.router.add_post("/api/cancel", guard(api.cancel))
    app.router.add_get("/api/sources", guard(api.sources))
    app.router.add_post("/api/sources", guard(api.add_source))
    app.router.add_delete("/api/sources", guard(api.remove_source))
    app.router.add_post("/api/collect", guard(api.collect))
    return app


async def _healthz(_: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def _index(_: web.Request) -> web.Response:
    page = resources.files("bot.web").joinpath("static/index.html").read_text("utf-8")
    return web.Response(text=page, content_type="text/html", charset="utf-8")


def _token_guard(token: str) -> Callable[[_Handler], _Handler]:
    expected = f"Bearer {token}".encode()

    def wrap(route: _Handler) -> _Handler:
        async def guarded(request: web.Request) -> web.StreamResponse:
            given = request.headers.get("Authorization", "").encode()
            if not hmac.compare_digest(given, expected):
                return web.json_response(
                    {"error": "missing or wrong token: open the URL printed at start"}, status=401
                )
            return await route(request)

        return guarded

    return wrap


class _Api:
    def __init__(self, handler: ChatHandler, twin: Twin) -> None:
        self.handler = handler
        self.twin = twin

    async def message(self, request: web.Request) -> web.StreamResponse:
        body = await _json(request)
        return await _stream(request, self.handler.handle(OWNER, str(body.get("text", ""))))

    async def feedback(self, request: web.Request) -> web.StreamResponse:
        body = await _json(request)
        action = str(body.get("action", ""))
        if action not in FEEDBACK_ACTIONS:
            raise web.HTTPBadRequest(
                text=json.dumps({"error": f"action must be one of {', '.join(FEEDBACK_ACTIONS)}"}),
                content_type="application/json",
            )
        events = self.handler.feedback(
            OWNER,
            str(body.get("draft_id", "")),
            action,
            str(body.get("text", "")),
        )
        return await _stream(request, events)

    async def cancel(self, _: web.Request) -> web.Response:
        return web.json_response({"cancelled": await self.handler.cancel(OWNER)})

    async def sources(self, _: web.Request) -> web.Response:
        rows = await asyncio.to_thread(self.twin.warehouse.list_sources)
        return web.json_response(
            [
                {
                    "url": s.url,
                    "platform": s.platform,
                    "documents": s.documents,
                    "status": s.status,
                    "last_crawl_at": s.last_crawl_at.isoformat() if s.last_crawl_at else None,
                    "last_error": s.last_error,
                }
                for s in rows
            ]
        )

    async def add_source(self, request: web.Request) -> web.StreamResponse:
        url = str((await _json(request)).get("url", "")).strip()
        return await _stream(request, self.handler.handle(OWNER, f"ingest {url}"))

    async def remove_source(self, request: web.Request) -> web.StreamResponse:
        url = str((await _json(request)).get("url", "")).strip()
        return await _stream(request, self.handler.handle(OWNER, f"forget {url}"))

    async def collect(self, request: web.Request) -> web.StreamResponse:
        """Collect again from every source (the page's "collect now" button)."""
        rows = await asyncio.to_thread(self.twin.warehouse.list_sources)
        urls = " ".join(s.url for s in rows if not s.url.startswith("file:"))
        if not urls:
            return await _stream(request, _one(Say("No web sources to collect from yet.")))
        return await _stream(request, self.handler.handle(OWNER, f"ingest {urls}"))


async def _one(out: Out) -> AsyncGenerator[Out, None]:
    yield out


async def _json(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(
            text=json.dumps({"error": "send a JSON object"}), content_type="application/json"
        )
    return body


async def _stream(request: web.Request, events: AsyncGenerator[Out, None]) -> web.StreamResponse:
    """Server-sent events, one JSON object each; closing the page stops the draft."""
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
    )
    await response.prepare(request)
    async with contextlib.aclosing(events):
        try:
            async for out in events:
                await response.write(f"data: {json.dumps(_event(out))}\n\n".encode())
            await response.write(b'data: {"type": "end"}\n\n')
        except ConnectionResetError:
            log.info("the web page went away mid-stream")
    return response


def _event(out: Out) -> dict[str, Any]:
    if isinstance(out, Say):
        return {"type": "say", "text": out.text}
    if isinstance(out, DraftUpdate):
        return {"type": "update", "text": out.text}
    assert isinstance(out, DraftFinal)
    return {
        "type": "final",
        "draft_id": out.draft_id,
        "text": out.text,
        "format": out.format,
        "sources": [{"url": s.url, "title": s.title, "role": s.role} for s in out.sources],
        "notes": list(out.notes),
        "finish_reason": out.finish_reason,
        "footer": out.footer,
    }
