"""Sources: the list (with titles, whose writing, counts, crawl status), adding a link,
uploading a file or a platform export, the incremental recrawl, and forgetting one.

Links, recrawls and forgetting go through the command layer as the chat's `ingest`,
`recrawl` and `forget`; an upload is ingested like `llm-twin ingest PATH` (the same
export importers and local-file reader). Uploads are kept in `$TWIN_HOME/uploads`, since
a recrawl reads a local source again from its path; forgetting one removes its file.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from urllib.request import url2pathname

import sqlalchemy as sa
from aiohttp import web

from bot.web import sse
from bot.web.bad_input import ApiError, json_object, text_field
from bot.web.context import OWNER, WebContext
from bot.web.uploads import Upload, receive_upload
from ingest.warehouse.schema import documents
from ingest.warehouse.store import Source, Warehouse
from model.voice import is_owner


def add_routes(app: web.Application, context: WebContext) -> None:
    api = _Sources(context)
    app.router.add_get("/api/sources", api.listing)
    app.router.add_post("/api/sources", api.add)
    app.router.add_post("/api/sources/upload", api.upload)
    app.router.add_post("/api/sources/recrawl", api.recrawl)
    app.router.add_delete("/api/sources", api.forget)


class _Sources:
    def __init__(self, context: WebContext) -> None:
        self.context = context
        self.handler = context.handler
        self._ingests: set[asyncio.Task[list[str]]] = set()

    @property
    def uploads(self) -> Path:
        return self.context.config.home / "uploads"

    async def listing(self, _: web.Request) -> web.Response:
        names = self.context.config.owner.author_names
        rows = await asyncio.to_thread(_sources, self.context.twin.warehouse, names)
        return web.json_response(rows)

    async def add(self, request: web.Request) -> web.StreamResponse:
        url = text_field(await json_object(request), "url")
        if not url.lower().startswith(("http://", "https://", "www.")):
            raise ApiError(
                400,
                f"url {url!r} is not a link (https://…); upload files and exports instead",
                key="url",
            )
        return await sse.stream(request, sse.said(self.handler.handle(OWNER, f"ingest {url}")))

    async def recrawl(self, request: web.Request) -> web.StreamResponse:
        url = text_field(await json_object(request), "url", required=False)
        if url:
            await self._known(url)
        command = f"recrawl {url}".strip()
        return await sse.stream(request, sse.said(self.handler.handle(OWNER, command)))

    async def forget(self, request: web.Request) -> web.StreamResponse:
        url = text_field(await json_object(request), "url")
        source = await self._known(url)
        outs = self.handler.handle(OWNER, f"forget {url}")
        return await sse.stream(request, self._forgotten(outs, source))

    async def upload(self, request: web.Request) -> web.StreamResponse:
        limit = self.context.config.web.max_upload_mb
        upload = await receive_upload(
            request, self.uploads, limit_mb=limit, exports=self.context.config.exports
        )
        # The ingest goes on if the page goes away: it is the owner's data arriving.
        task = asyncio.create_task(self._ingest(upload))
        self._ingests.add(task)
        task.add_done_callback(self._ingests.discard)
        return await sse.stream(request, _lines(task))

    async def _ingest(self, upload: Upload) -> list[str]:
        known = await asyncio.to_thread(self.context.twin.warehouse.get_source, upload.uri)
        async with self.context.twin.ingestor() as ingestor:
            [result] = await ingestor.ingest(
                [str(upload.path)], allow_paths=True, hints=upload.hints
            )
        if not result.ok and known is None:
            upload.path.unlink(missing_ok=True)  # nothing came of it: keep nothing
        said = [result.line(), *(f"note: {note}" for note in result.notes)]
        lines = [
            line.replace(upload.uri, upload.name).replace(str(upload.path), upload.name)
            for line in said
        ]
        if result.ok:
            count = result.documents
            lines.append(f"{upload.name}: {count} document{'' if count == 1 else 's'} in it.")
        return lines

    async def _known(self, url: str) -> Source | None:
        """The source `url` names (None: a stored document's url); 404 when neither."""
        warehouse = self.context.twin.warehouse
        source = await asyncio.to_thread(warehouse.get_source, url)
        if source is None and await asyncio.to_thread(warehouse.find_document_by_url, url) is None:
            raise ApiError(404, f"{url}: not a known source or document; the list shows them")
        return source

    async def _forgotten(self, outs: Any, source: Source | None) -> AsyncIterator[sse.Event]:
        async with contextlib.aclosing(sse.said(outs)) as events:
            async for event in events:
                yield event
        path = _file_path(source.url) if source is not None else None
        if path is not None and path.parent == self.uploads.resolve() and path.is_file():
            path.unlink()


async def _lines(task: asyncio.Task[list[str]]) -> AsyncIterator[sse.Event]:
    yield {"type": "say", "text": "Reading the upload…"}
    try:
        lines = await asyncio.shield(task)
    except Exception as exc:  # a TwinError, or a bug: one line either way
        yield {"type": "error", "text": f"⚠️ {exc}"}
        return
    for line in lines:
        yield {"type": "say", "text": line}


def _sources(warehouse: Warehouse, names: tuple[str, ...]) -> list[dict[str, Any]]:
    listed = warehouse.list_sources()
    query = sa.select(
        documents.c.source_id, documents.c.title, documents.c.author, documents.c.owned
    ).order_by(documents.c.source_id, documents.c.created_at)
    titles: dict[int, str] = {}
    owned: dict[int, int] = {}
    with warehouse.guard("listing sources"), warehouse.engine.connect() as conn:
        for row in conn.execute(query):
            titles.setdefault(row.source_id, row.title)
            mine = row.owned is not False and (
                (row.owned is True and not row.author.strip()) or is_owner(row.author, names)
            )
            owned[row.source_id] = owned.get(row.source_id, 0) + int(mine)
    return [_source_json(s, titles.get(s.id, ""), owned.get(s.id, 0), bool(names)) for s in listed]


def _source_json(source: Source, first_title: str, owned: int, named: bool) -> dict[str, Any]:
    if not named:
        whose = "unknown"  # owner.names (or owner.name) is not set: Settings sets it
    elif source.documents and owned == source.documents:
        whose = "owner"
    elif owned:
        whose = "mixed"
    else:
        whose = "other" if source.documents else "unknown"
    return {
        "url": source.url,
        "title": first_title if source.documents == 1 and first_title else _title(source),
        "platform": source.platform,
        "owner": whose,
        "owner_name": source.owner,
        "documents": source.documents,
        "owner_documents": owned,
        "status": source.status,
        "added_at": source.added_at.isoformat(),
        "last_crawl_at": source.last_crawl_at.isoformat() if source.last_crawl_at else None,
        "last_error": source.last_error,
    }


def _title(source: Source) -> str:
    """A source in words: its file's name, else its host and path."""
    path = _file_path(source.url)
    if path is not None:
        return f"{path.name} ({source.platform} export)" if path.suffix == ".zip" else path.name
    bare = source.url.split("://", 1)[-1].rstrip("/")
    return bare.removeprefix("www.")


def _file_path(url: str) -> Path | None:
    parts = urlsplit(url)
    return Path(url2pathname(parts.path)) if parts.scheme == "file" else None
