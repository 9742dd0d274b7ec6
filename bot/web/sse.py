"""Server-sent events: what the command layer says back, one JSON object per event.

A stream is `data: {...}` events ending with `{"type": "end"}`; a page that goes away
stops it (a draft in flight is cancelled, as on every front end). Types: `say`, `update`
(the whole draft so far), `final` (the settled draft), `progress` and `done` (training),
`error` (something failed after the stream began).
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

from aiohttp import web

from bot.chat.replies import DraftFinal, DraftUpdate, Out, Say

log = logging.getLogger(__name__)

Event = dict[str, Any]


async def stream(request: web.Request, events: AsyncIterator[Event]) -> web.StreamResponse:
    """Send `events` as server-sent events, then `end`."""
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
    )
    await response.prepare(request)
    try:
        async for event in events:
            await response.write(f"data: {json.dumps(event)}\n\n".encode())
        await response.write(b'data: {"type": "end"}\n\n')
    except ConnectionResetError:
        log.info("the web page went away mid-stream")
    finally:
        if isinstance(events, AsyncGenerator):
            await events.aclose()
    return response


async def said(outs: AsyncGenerator[Out, None]) -> AsyncGenerator[Event, None]:
    """The command layer's replies as events (closing this closes `outs`: a draft stops)."""
    async with contextlib.aclosing(outs):
        async for out in outs:
            yield event(out)


async def one(text: str, kind: str = "say") -> AsyncIterator[Event]:
    yield {"type": kind, "text": text}


def event(out: Out) -> Event:
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
