"""The command line's API: `search`, `draft`, `ingest`, `recrawl` and `forget` run in the
bot when one serves the CLI's TWIN_HOME (bot/cli/remote.py calls it; bot/running.py says where).

The bot has the model and the index warm and is the index's one writer. Records go back
whole (bot/wire.py), so the command prints the same lines either way. These routes
answer loopback peers only (an ingest reads local paths, which a remote token holder must
not get to), and 409 when the caller resolved other settings than the bot runs with: the
command then runs in its own process, as configured there.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

from aiohttp import web

from bot.running import CONFIG_HEADER, fingerprint
from bot.web import sse
from bot.web.access import is_loopback
from bot.web.bad_input import ApiError, json_object, strings_field
from bot.web.context import WebContext
from bot.wire import draft_event_json, filters_from, hit_json, result_json
from core.errors import TwinError
from ingest.results import InputResult
from model.draft import DraftRequest
from model.prompts import FORMATS


def add_routes(app: web.Application, context: WebContext) -> None:
    api = _CommandLine(context)
    app.router.add_post("/api/cli/search", api.search)
    app.router.add_post("/api/cli/draft", api.draft)
    app.router.add_post("/api/cli/ingest", api.ingest)
    app.router.add_post("/api/cli/recrawl", api.recrawl)
    app.router.add_post("/api/cli/forget", api.forget)


def from_this_machine(request: web.Request) -> bool:
    """Loopback, or a peer at the very address it connected to (a bot bound to the
    machine's own LAN address is called from that address)."""
    remote = request.remote or ""
    if is_loopback(remote):
        return True
    sockname: Any = request.transport.get_extra_info("sockname") if request.transport else None
    return bool(sockname) and remote == str(sockname[0])


def _string(body: dict[str, Any], name: str) -> str:
    """A string field as sent (not stripped: the command sends what the owner typed)."""
    value = body.get(name)
    if not isinstance(value, str):
        raise ApiError(400, f"{name} must be a string", key=name)
    return value


def _number(body: dict[str, Any], name: str, kind: type[int] | type[float]) -> Any:
    value = body.get(name)
    if value is None or (isinstance(value, int | float) and not isinstance(value, bool)):
        return None if value is None else kind(value)
    raise ApiError(400, f"{name} must be a number or null", key=name)


class _CommandLine:
    def __init__(self, context: WebContext) -> None:
        self.context = context

    async def _body(self, request: web.Request) -> dict[str, Any]:
        """The request's JSON, once it is known to come from this machine's command line
        with the settings this bot runs with."""
        if not from_this_machine(request):
            raise ApiError(403, "the command-line API answers this machine only")
        if request.headers.get(CONFIG_HEADER) != fingerprint(self.context.config):
            raise ApiError(409, "this bot runs with other settings; run the command --local")
        return await json_object(request)

    async def search(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        filters = body.get("filters") or {}
        if not isinstance(filters, dict):
            raise ApiError(400, "filters must be an object", key="filters")
        hits = await self.context.twin.search(
            _string(body, "query"),
            k=_number(body, "k", int),
            alpha=_number(body, "alpha", float),
            filters=filters_from(filters),
        )
        note = await asyncio.to_thread(self.context.twin.health.note)  # index being rebuilt
        return web.json_response({"hits": [hit_json(hit) for hit in hits], "note": note})

    async def draft(self, request: web.Request) -> web.StreamResponse:
        body = await self._body(request)
        fmt = _string(body, "format")
        if fmt not in FORMATS:
            raise ApiError(400, f"format must be one of {', '.join(FORMATS)}", key="format")
        draft = DraftRequest(
            prompt=_string(body, "prompt"),
            format=fmt,
            links=strings_field(body, "links"),
            user=str(body.get("user") or "cli"),
        )
        return await sse.stream(request, self._drafted(draft))

    async def _drafted(self, draft: DraftRequest) -> AsyncIterator[sse.Event]:
        """The writer's events as they come; closing this (the command went away) closes
        the writer, which records the draft as cancelled."""
        events = self.context.handler.writer.write(draft)
        try:
            async for event in events:
                yield draft_event_json(event)
        except TwinError as exc:
            yield {"type": "error", "text": str(exc)}
        finally:
            if isinstance(events, AsyncGenerator):
                await events.aclose()

    async def ingest(self, request: web.Request) -> web.StreamResponse:
        body = await self._body(request)
        inputs = list(strings_field(body, "inputs"))
        hints = body.get("hints") or {}
        if not isinstance(hints, dict):
            raise ApiError(400, "hints must be an object", key="hints")
        if not inputs:
            raise ApiError(400, "inputs is empty; send the links or paths to ingest")

        async def work(report: Any) -> list[InputResult]:
            async with self.context.twin.ingestor() as ingestor:
                return await ingestor.ingest(
                    inputs, allow_paths=True, on_result=report, hints=hints
                )

        return await sse.stream(request, _results(work))

    async def forget(self, request: web.Request) -> web.Response:
        url = _string(await self._body(request), "url").strip()
        removed = await asyncio.to_thread(self.context.twin.forget, url)
        return web.json_response({"removed": removed})

    async def recrawl(self, request: web.Request) -> web.StreamResponse:
        only = list(strings_field(await self._body(request), "only"))

        async def work(report: Any) -> list[InputResult]:
            async with self.context.twin.ingestor() as ingestor:
                return await ingestor.recrawl(only, on_result=report)

        return await sse.stream(request, _results(work))


async def _results(work: Any) -> AsyncIterator[sse.Event]:
    """Each input's result as it is done; an error that stops the whole run (an unknown
    source named to recrawl) as the stream's error. If the command goes away, the run is
    cancelled between writes, as Ctrl-C cancels it in the command's own process."""
    queue: asyncio.Queue[InputResult] = asyncio.Queue()  # one result per input at most
    task = asyncio.create_task(work(queue.put_nowait))
    try:
        while not task.done() or not queue.empty():
            getter = asyncio.ensure_future(queue.get())
            await asyncio.wait({getter, task}, return_when=asyncio.FIRST_COMPLETED)
            if getter.done():
                yield {"type": "result", "result": result_json(getter.result())}
            else:
                getter.cancel()
        task.result()
    except TwinError as exc:
        yield {"type": "error", "text": str(exc)}
    finally:
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, TwinError):
                await task
