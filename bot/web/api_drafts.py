"""Drafting and the history: messages to the command layer, drafts from the composer,
feedback, and every draft so far (the database is the history, so it survives reloads
and restarts).

`/api/message` hands the text, as typed, to the one command parser (bot/chat/commands.py);
`/api/draft` is the composer: its prompt is always a draft prompt and its format applies
to it alone, so a command typed there is never turned into a draft, nor a prompt into a
command.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator
from functools import cached_property
from typing import Any

from aiohttp import web

from bot.chat.replies import FEEDBACK_ACTIONS, Out
from bot.web import sse
from bot.web.bad_input import (
    ApiError,
    json_object,
    query_int,
    strings_field,
    text_field,
)
from bot.web.context import OWNER, WebContext
from model.draft_history import RATINGS, DraftHistory, HistoryItem
from model.naming import model_json
from model.prompts import FORMATS


def add_routes(app: web.Application, context: WebContext) -> None:
    api = _Drafts(context)
    app.router.add_post("/api/message", api.message)
    app.router.add_post("/api/draft", api.draft)
    app.router.add_post("/api/cancel", api.cancel)
    app.router.add_post("/api/feedback", api.feedback)
    app.router.add_get("/api/drafts", api.history)
    app.router.add_get("/api/drafts/{id}", api.one)


class _Drafts:
    def __init__(self, context: WebContext) -> None:
        self.context = context
        self.handler = context.handler

    @cached_property
    def history_store(self) -> DraftHistory:
        return DraftHistory(self.context.twin.warehouse)

    async def message(self, request: web.Request) -> web.StreamResponse:
        """What the composer sends, as typed: the server's one parser decides whether it
        is a command, a link-drop or a draft prompt; `format` and `links` apply only to a
        draft prompt."""
        body = await json_object(request)
        text = text_field(body, "text")
        fmt = text_field(body, "format", required=False) or None
        if fmt is not None and fmt not in FORMATS:
            raise ApiError(400, f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
        text += "".join(f"\n{link}" for link in self._links(body, text))
        events = self.handler.handle(OWNER, text, draft_format=fmt)
        return await sse.stream(request, self._with_model(events))

    @staticmethod
    def _links(body: dict[str, Any], text: str) -> list[str]:
        links = [link for link in strings_field(body, "links") if link not in text]
        for link in links:
            if not link.lower().startswith(("http://", "https://", "www.")):
                raise ApiError(400, f"links: {link!r} is not a link (https://…)", key="links")
        return links

    async def draft(self, request: web.Request) -> web.StreamResponse:
        body = await json_object(request)
        prompt = text_field(body, "prompt")
        fmt = text_field(body, "format", required=False) or self.context.config.drafting.format
        if fmt not in FORMATS:
            raise ApiError(400, f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
        links = self._links(body, prompt)
        # An explicit `draft FORMAT` line: the parser reads the rest as the prompt, whatever
        # it says; links given beside it join the prompt as chat's links do.
        text = f"draft {fmt} {prompt}" + "".join(f"\n{link}" for link in links)
        return await sse.stream(request, self._with_model(self.handler.handle(OWNER, text)))

    async def cancel(self, _: web.Request) -> web.Response:
        return web.json_response({"cancelled": await self.handler.cancel(OWNER)})

    async def feedback(self, request: web.Request) -> web.StreamResponse:
        body = await json_object(request)
        draft_id = text_field(body, "draft_id")
        action = text_field(body, "action")
        if action not in FEEDBACK_ACTIONS:
            actions = ", ".join(FEEDBACK_ACTIONS)
            raise ApiError(400, f"action must be one of {actions}, got {action!r}")
        text = text_field(body, "text", required=action == "edit")
        if await asyncio.to_thread(self.context.twin.drafts.get, draft_id) is None:
            raise ApiError(404, f"draft {draft_id}: no such draft; the history lists them")
        events = self.handler.feedback(OWNER, draft_id, action, text)
        return await sse.stream(request, self._with_model(events))

    async def history(self, request: web.Request) -> web.Response:
        fmt = request.query.get("format", "")
        if fmt and fmt not in FORMATS:
            raise ApiError(400, f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
        rating = request.query.get("rating", "")
        if rating and rating not in RATINGS:
            raise ApiError(400, f"rating must be one of {', '.join(RATINGS)}, got {rating!r}")
        page = await asyncio.to_thread(
            self.history_store.page,
            offset=query_int(request, "offset", 0, maximum=10**9),
            limit=query_int(request, "limit", 20, maximum=200) or 20,
            format=fmt,
            rating=rating or None,
            text=request.query.get("q", "").strip(),
        )
        return web.json_response({"total": page.total, "items": [_item(i) for i in page.items]})

    async def one(self, request: web.Request) -> web.Response:
        draft_id = request.match_info["id"]
        item = await asyncio.to_thread(self.history_store.item, draft_id)
        if item is None:
            raise ApiError(404, f"draft {draft_id}: no such draft; the history lists them")
        return web.json_response(_item(item))

    async def _with_model(self, outs: AsyncGenerator[Out, None]) -> AsyncIterator[sse.Event]:
        """The replies as events; a settled draft also names the model that wrote it."""
        async with contextlib.aclosing(sse.said(outs)) as events:
            async for event in events:
                if event["type"] == "final":
                    draft = await asyncio.to_thread(self.context.twin.drafts.get, event["draft_id"])
                    if draft is not None:
                        model = model_json(draft.model_id, draft.backend, draft.model_version)
                        event["model"] = model["name"]
                yield event


def _item(item: HistoryItem) -> dict[str, Any]:
    d = item.draft
    return {
        "id": d.id,
        "created_at": d.created_at.isoformat(),
        "user": d.user,
        "prompt": d.prompt,
        "format": d.format,
        "links": list(d.links),
        "output": d.output,
        "finish_reason": d.finish_reason,
        "backend": d.backend,
        "model_id": d.model_id,
        "model_version": d.model_version,
        "model": model_json(d.model_id, d.backend, d.model_version)["name"],
        "rating": item.rating,
        "edits": [
            {"text": e.edited_text, "created_at": e.created_at.isoformat()} for e in item.edits
        ],
        "sources": [{"url": s.url, "title": s.title, "role": s.role} for s in d.sources],
        "notes": list(d.notes),
    }
