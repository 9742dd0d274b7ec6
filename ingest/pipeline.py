"""Inputs → documents → warehouse + index, streamed, batched and all-or-nothing per batch.

Each input (a URL or, from the CLI, a local path) is resolved and extracted by its own
task, at most `concurrency` at a time. Documents whose content hash is unchanged stop
there. The rest are cleaned, chunked, and queued (a bounded queue, so a large feed never
runs ahead of the embedder) for one writer (`ingest.writer`), which embeds a batch of
chunks off the event loop and writes it in a single warehouse transaction wrapping a
single index commit: a failure leaves neither a document row without its chunks nor
chunks without their row. Documents a recrawled source no longer holds are removed the
same way.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from urllib.request import url2pathname

from core.errors import InputError, StorageError, TwinError
from ingest.chunking import Chunker
from ingest.clean import clean_code, clean_text
from ingest.document import Document
from ingest.extractors.base import Crawl, ExtractorRegistry, IncrementalExtractor, Seen
from ingest.extractors.registry import unsupported_input
from ingest.fetcher import Fetcher
from ingest.paths import crawl_path
from ingest.results import InputResult
from ingest.urls import looks_like_url, normalize_url
from ingest.warehouse.store import Warehouse
from ingest.writer import DocumentWriter, WriteJob, embedding_text
from retrieval.embedder import Embedder
from retrieval.index import VectorIndex

__all__ = ["Ingestor"]

log = logging.getLogger(__name__)


class Ingestor:
    def __init__(
        self,
        *,
        warehouse: Warehouse,
        index: VectorIndex,
        embedder: Embedder,
        chunker: Chunker,
        registry: ExtractorRegistry,
        fetcher: Fetcher,
        concurrency: int = 4,
        batch_chunks: int = 256,
        path_crawler: Callable[[Path, Seen], Crawl] = crawl_path,
    ) -> None:
        self.warehouse = warehouse
        self.index = index
        self.embedder = embedder
        self.chunker = chunker
        self.registry = registry
        self.fetcher = fetcher
        self.concurrency = concurrency
        self.batch_chunks = batch_chunks
        self.path_crawler = path_crawler  # local files, folders and export zips
        self._writer = DocumentWriter(
            warehouse=warehouse,
            index=index,
            embedder=embedder,
            chunker=chunker,
            batch_chunks=batch_chunks,
        )

    async def ingest(
        self,
        inputs: Sequence[str],
        *,
        allow_paths: bool = False,
        on_result: Callable[[InputResult], None] | None = None,
        hints: Mapping[str, Any] | None = None,
    ) -> list[InputResult]:
        """Ingest every input; one bad input never affects the others. An input already
        known as a source is recrawled: its extractor gets what the last crawl saw, and
        documents the source no longer holds are removed. `hints` go to the extractor
        with that state (e.g. the kind of export a zip is claimed to be)."""
        gate = asyncio.Semaphore(self.concurrency)

        async def one(raw: str, queue: asyncio.Queue[WriteJob | None]) -> InputResult:
            async with gate:
                result = await self._ingest_one(
                    raw, queue, allow_paths=allow_paths, hints=hints or {}
                )
            if on_result is not None:
                on_result(result)
            return result

        async with self._writer.queue() as queue:
            results = await asyncio.gather(*(one(raw, queue) for raw in inputs))
        if any(r.new or r.changed or r.removed for r in results):
            await self._optimize()
        return list(results)

    async def recrawl(
        self,
        sources: Sequence[str] = (),
        *,
        on_result: Callable[[InputResult], None] | None = None,
    ) -> list[InputResult]:
        """Crawl known sources again (all of them, or those named, as given or as stored),
        fetching only what changed: the one function behind `llm-twin recrawl` and the
        scheduled recrawls."""
        known = [s.url for s in await asyncio.to_thread(self.warehouse.list_sources)]
        chosen = known
        if sources:
            chosen = [await asyncio.to_thread(self._known_source, raw, known) for raw in sources]
        # Local sources are stored as file:// URIs; they are crawled as the paths they name.
        inputs = [_local_path(url) or url for url in chosen]
        return await self.ingest(inputs, allow_paths=True, on_result=on_result)

    def _known_source(self, raw: str, known: Sequence[str]) -> str:
        if raw.strip() in known:
            return raw.strip()
        try:
            url, _ = _source(raw, True, self.registry)
        except InputError:
            url = ""
        if url not in known:
            raise InputError(
                raw, "not a known source; `llm-twin sources` lists them, `ingest` adds one"
            )
        return url

    async def reindex(
        self,
        documents: Iterator[Document],
        *,
        on_document: Callable[[], None] | None = None,
    ) -> InputResult:
        """Re-chunk, re-embed and re-index documents already in the warehouse, through the
        same writer as `ingest`. The warehouse rows are left as they are; a document
        removed or changed meanwhile by another writer is not brought back."""
        result = InputResult(input="warehouse")
        async with self._writer.queue() as queue:
            while (document := await asyncio.to_thread(next, documents, None)) is not None:
                job = await self._job(document, document.source_url, result, reindex=True)
                if on_document is not None:
                    job.done.add_done_callback(lambda _: on_document())
                await queue.put(job)
        await self._optimize()
        return result

    async def _ingest_one(
        self,
        raw: str,
        queue: asyncio.Queue[WriteJob | None],
        *,
        allow_paths: bool,
        hints: Mapping[str, Any],
    ) -> InputResult:
        result = InputResult(input=raw.strip())
        source_url = ""
        crawl = Crawl()
        try:
            source_url, path = await asyncio.to_thread(_source, raw, allow_paths, self.registry)
            result.input = source_url
            seen = await asyncio.to_thread(self._seen, source_url, hints)
            crawl = await self._crawl(source_url, path, seen)
            result.notes.extend(crawl.notes)
            if crawl.not_modified:
                result.not_modified = True
                result.unchanged += len(seen.documents)
            else:
                result.unchanged += crawl.skipped
                await self._store(crawl.documents, source_url, queue, result)
                if crawl.present is not None and result.ok:
                    gone = sorted(set(seen.documents) - crawl.present)
                    result.removed += await asyncio.to_thread(self._writer.remove, gone)
        except TwinError as exc:
            result.error = str(exc) if isinstance(exc, InputError) else f"{raw}: {exc}"
        await asyncio.to_thread(self._record_crawl, source_url, result.error, crawl)
        return result

    def _seen(self, source_url: str, hints: Mapping[str, Any]) -> Seen:
        source = self.warehouse.get_source(source_url)
        if source is None:
            return Seen(state=dict(hints))
        documents = self.warehouse.source_documents(source_url)
        return Seen(state={**source.state, **hints}, documents=documents)

    async def _crawl(self, source_url: str, path: Path | None, seen: Seen) -> Crawl:
        if path is not None:
            return await asyncio.to_thread(self.path_crawler, path, seen)
        extractor = self.registry.for_url(source_url)
        if isinstance(extractor, IncrementalExtractor):
            return await extractor.crawl(source_url, self.fetcher, seen)
        documents = await extractor.extract(source_url, self.fetcher)
        return Crawl(documents)

    async def _optimize(self) -> None:
        """Fold new rows into the BM25 and ANN indices (and build the ANN index once the
        table is large enough), so searches stay fast as the corpus grows. Housekeeping
        after the writes committed: a failure is said in a line, never fails them."""
        try:
            await asyncio.to_thread(self.index.optimize)
        except StorageError as exc:  # at -v: a failed write says the same, once
            log.info("optimizing the index failed (searches still find everything): %s", exc)

    def drop_orphans(self, document_ids: Sequence[str]) -> list[str]:
        """Remove the chunks of documents the warehouse does not hold (see
        `DocumentWriter.drop_orphans`)."""
        return self._writer.drop_orphans(document_ids)

    def forget(self, url: str) -> list[str]:
        """Remove a source (and its documents) or one document, with their chunks: the
        removed document ids (none when `url` names nothing stored)."""
        return self._writer.forget(url)

    async def read_link(self, url: str, *, keep: bool = False) -> list[Document]:
        """The documents a shared link holds (for a draft's material). With `keep`, they
        are also stored and indexed; a failure to keep them is logged, never raised: the
        caller already has what it asked for."""
        source = normalize_url(url)
        documents = await self.registry.for_url(source).extract(source, self.fetcher)
        if keep:
            try:
                result = await self.add_documents(source, documents)
            except TwinError as exc:
                log.warning("could not keep %s: %s", source, exc)
            else:
                if result.error:
                    log.warning("could not keep %s: %s", source, result.error)
        return documents

    async def add_documents(self, source_url: str, documents: Sequence[Document]) -> InputResult:
        """Store and index documents extracted elsewhere (a link shared for a draft was
        already fetched once; it is not fetched again)."""
        result = InputResult(input=source_url)
        try:
            async with self._writer.queue() as queue:
                await self._store(documents, source_url, queue, result)
        except TwinError as exc:
            result.error = f"{source_url}: {exc}"
        if result.new or result.changed:
            await self._optimize()
        return result

    async def _store(
        self,
        documents: Sequence[Document],
        source_url: str,
        queue: asyncio.Queue[WriteJob | None],
        result: InputResult,
    ) -> None:
        jobs = []
        for document in documents:
            job = await self._prepare(document, source_url, result)
            if job is not None:
                await queue.put(job)
                jobs.append(job)
        await asyncio.gather(*(job.done for job in jobs))
        if result.ok:
            await asyncio.to_thread(self.warehouse.add_source, source_url, _platform(documents))

    def _record_crawl(self, source_url: str, error: str | None, crawl: Crawl) -> None:
        """A known source remembers how its last crawl went and, when it went well, what
        it saw; a failed first ingest leaves no trace."""
        if source_url and self.warehouse.get_source(source_url) is not None:
            state = crawl.state if error is None else None
            self.warehouse.record_crawl(source_url, error=error, state=state, owner=crawl.owner)

    async def _prepare(
        self, document: Document, source_url: str, result: InputResult
    ) -> WriteJob | None:
        verbatim = document.meta.get("verbatim") == "1"  # code: whitespace is its syntax
        text = clean_code(document.text) if verbatim else clean_text(document.text)
        if not text.strip():
            result.notes.append(f"{document.url}: empty after cleaning, skipped")
            return None
        document = _replace_text(document, text, source_url)
        stored = await asyncio.to_thread(self.warehouse.document_state, document.id)
        if stored == document.content_hash:
            result.unchanged += 1
            return None
        return await self._job(document, source_url, result)

    async def _job(
        self, document: Document, source_url: str, result: InputResult, *, reindex: bool = False
    ) -> WriteJob:
        texts = await asyncio.to_thread(self.chunker.split, embedding_text(document))
        done = asyncio.get_running_loop().create_future()
        return WriteJob(document, source_url, texts, result, done, reindex=reindex)


def _source(raw: str, allow_paths: bool, registry: ExtractorRegistry) -> tuple[str, Path | None]:
    """The canonical source URL for an input: the normalised link, or a local path's
    file:// URI (paths only where the caller allows them: the CLI, not chat)."""
    text = raw.strip()
    if not looks_like_url(text):
        if not allow_paths:
            raise unsupported_input(text, registry)
        path = Path(text).expanduser().resolve()
        return path.as_uri(), path
    return normalize_url(text), None


def _local_path(url: str) -> str | None:
    parts = urlsplit(url)
    return url2pathname(parts.path) if parts.scheme == "file" else None


def _replace_text(document: Document, text: str, source_url: str) -> Document:
    return replace(document, text=text, source_url=document.source_url or source_url)


def _platform(documents: Sequence[Document]) -> str:
    platforms = {d.platform for d in documents}
    return platforms.pop() if len(platforms) == 1 else "mixed"
