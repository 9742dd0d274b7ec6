"""The single writer behind the ingest pipeline: chunks in, warehouse + index out.

Producers queue `WriteJob`s (a document and its chunk texts) on a bounded queue; the one
writer batches them up to `batch_chunks` chunks, embeds each batch off the event loop and
writes it in a single warehouse transaction wrapping a single index commit, so a failure
leaves neither a document row without its chunks nor chunks without their row. Removing
documents goes through the same transaction. Each job's `done` resolves once its batch is
written or has failed (the failure is in the job's `InputResult`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Literal, TypeVar

from core.errors import StorageError, TwinError
from core.faults import first_line
from ingest.chunking import Chunker
from ingest.document import Document, document_id
from ingest.results import InputResult
from ingest.warehouse.store import Warehouse, WarehouseTransaction
from retrieval.embedder import Embedder, embed_off_loop
from retrieval.index import VectorIndex
from retrieval.types import Chunk, Vector

log = logging.getLogger(__name__)
_T = TypeVar("_T")


@dataclass
class WriteJob:
    document: Document
    source_url: str
    texts: list[str]
    result: InputResult
    done: asyncio.Future[None]
    # Re-indexing a document read from the warehouse (reindex, healing): its row is not
    # written; its chunks are, only while the warehouse still holds it unchanged.
    reindex: bool = False


# What a write did to one document: stored (new, changed, unchanged), or, re-indexing it,
# found it removed ("gone": its chunks go too) or changed since it was read ("stale": the
# writer that changed it wrote its chunks).
Outcome = Literal["new", "changed", "unchanged", "gone", "stale"]


def build_chunks(document: Document, texts: Sequence[str], vectors: Vector) -> list[Chunk]:
    return [
        Chunk(
            chunk_id=f"{document.id}-{ordinal:05d}",
            document_id=document.id,
            ordinal=ordinal,
            text=text,
            url=document.url,
            title=document.title,
            platform=document.platform,
            author=document.author,
            published_at=document.published_at,
            vector=vector,
        )
        for ordinal, (text, vector) in enumerate(zip(texts, vectors, strict=True))
    ]


def embedding_text(document: Document) -> str:
    """What gets chunked and embedded: the title leads, as it often names the topic."""
    return f"{document.title}\n\n{document.text}" if document.title else document.text


class DocumentWriter:
    """Writes documents with their chunks, and removes them, in the warehouse and the
    index together."""

    def __init__(
        self,
        *,
        warehouse: Warehouse,
        index: VectorIndex,
        embedder: Embedder,
        chunker: Chunker,
        batch_chunks: int,
    ) -> None:
        self.warehouse = warehouse
        self.index = index
        self.embedder = embedder
        self.chunker = chunker
        self.batch_chunks = batch_chunks

    @asynccontextmanager
    async def queue(self) -> AsyncIterator[asyncio.Queue[WriteJob | None]]:
        """A bounded queue feeding the single writer; the writer drains it on exit."""
        queue: asyncio.Queue[WriteJob | None] = asyncio.Queue(maxsize=4 * self.batch_chunks)
        writer = asyncio.create_task(self._write_loop(queue))
        try:
            yield queue
        finally:
            await queue.put(None)
            await writer

    def remove(self, urls: Sequence[str]) -> int:
        """Remove the documents a source no longer holds, from the warehouse and the index
        together (as `_commit` writes them)."""
        ids = [document_id(url) for url in urls]
        if not ids:
            return 0
        return self._together(
            lambda tx: (sum(tx.delete_document(doc_id) for doc_id in ids), _no_chunks(ids))
        )

    def forget(self, url: str) -> list[str]:
        """Remove a source (with its documents) or one document, from the warehouse and
        the index together; the removed document ids, sorted."""
        doomed = self.warehouse.documents_under(url)
        removed = self._together(lambda tx: (tx.forget(url), _no_chunks(doomed)))
        for late in set(removed) - set(doomed):  # stored under it since the look
            self.index.delete_document(late)
        return removed

    async def _write_loop(self, queue: asyncio.Queue[WriteJob | None]) -> None:
        """The single writer: batch what is queued, embed it, commit it. Once a store
        fails (a full disk, a server gone), what is still queued fails with the same
        reason without being tried: the fault is met, and said, once."""
        failed: list[StorageError] = []  # the first store failure of this queue
        finished = False
        while not finished:
            first = await queue.get()
            if first is None:
                return
            batch = [first]
            size = len(first.texts)
            while size < self.batch_chunks:
                try:
                    job = queue.get_nowait()
                except asyncio.QueueEmpty:
                    break
                if job is None:
                    finished = True
                    break
                if any(j.document.id == job.document.id for j in batch):
                    await self._flush(batch, failed)  # the same URL twice: commit apart
                    batch, size = [], 0
                batch.append(job)
                size += len(job.texts)
            await self._flush(batch, failed)

    async def _flush(self, batch: list[WriteJob], failed: list[StorageError]) -> None:
        if not batch:
            return
        if failed:
            self._fail(batch, failed[0])
            return
        try:
            texts = [text for job in batch for text in job.texts]
            vectors = await embed_off_loop(self.embedder, texts)
            chunks_by_doc: dict[str, list[Chunk]] = {}
            offset = 0
            for job in batch:
                count = len(job.texts)
                chunks_by_doc[job.document.id] = build_chunks(
                    job.document, job.texts, vectors[offset : offset + count]
                )
                offset += count
            outcomes = await asyncio.to_thread(self._commit, batch, chunks_by_doc)
        except Exception as exc:  # reported per input, never lost
            if isinstance(exc, StorageError):
                failed.append(exc)
            elif not isinstance(exc, TwinError):
                log.warning("writing a batch of %d documents failed", len(batch), exc_info=True)
            self._fail(batch, exc)
            return
        for job, outcome in zip(batch, outcomes, strict=True):
            if outcome == "gone":
                job.result.removed += 1
            elif outcome == "new":
                job.result.new += 1
            elif outcome == "changed":
                job.result.changed += 1
            else:
                job.result.unchanged += 1
            job.result.chunks += len(job.texts) if outcome not in ("gone", "stale") else 0
            job.done.set_result(None)

    @staticmethod
    def _fail(batch: list[WriteJob], exc: Exception) -> None:
        reason = str(exc) if isinstance(exc, TwinError) else f"{type(exc).__name__}: {exc}"
        for job in batch:
            if job.result.error is None:
                job.result.error = (
                    f"{job.result.input}: storing {job.document.url} failed ({reason}); "
                    "nothing was stored for it, try again"
                )
            if not job.done.done():
                job.done.set_result(None)

    def _commit(
        self, batch: list[WriteJob], chunks_by_doc: dict[str, list[Chunk]]
    ) -> list[Outcome]:
        def write(tx: WarehouseTransaction) -> tuple[list[Outcome], dict[str, list[Chunk]]]:
            outcomes: list[Outcome] = []
            for job in batch:
                if not job.reindex:
                    outcomes.append(tx.upsert_document(job.document, source_url=job.source_url))
                    continue
                stored = tx.stored_hash(job.document.id)
                if stored is None:
                    outcomes.append("gone")
                    chunks_by_doc[job.document.id] = []
                elif stored != job.document.content_hash:
                    outcomes.append("stale")
                    del chunks_by_doc[job.document.id]
                else:
                    outcomes.append("unchanged")
            return outcomes, chunks_by_doc

        return self._together(write)

    def drop_orphans(self, document_ids: Sequence[str]) -> list[str]:
        """Remove the chunks of documents the warehouse does not hold, checked again under
        its write lock (a writer in flight puts chunks in the index just before its
        warehouse commit: those are not orphans); the ids whose chunks were removed."""

        def write(tx: WarehouseTransaction) -> tuple[list[str], dict[str, list[Chunk]]]:
            gone = [doc_id for doc_id in document_ids if tx.stored_hash(doc_id) is None]
            return gone, _no_chunks(gone)

        return self._together(write)

    def _together(
        self,
        write: Callable[[WarehouseTransaction], tuple[_T, Mapping[str, Sequence[Chunk]]]],
    ) -> _T:
        """One warehouse transaction around one index write (of the chunks `write` says,
        after its warehouse writes). If either fails, the index is put back to what the
        warehouse still holds, so neither store gets ahead of the other: a failed
        warehouse commit after an atomic index commit (LanceDB), or an index write that
        failed partway (a server backend such as Weaviate writes object by object, with
        no commit to roll back)."""
        chunks_by_doc: Mapping[str, Sequence[Chunk]] = {}
        try:
            with self.warehouse.transaction() as tx:
                done, chunks_by_doc = write(tx)
                self.index.replace_documents(chunks_by_doc)
        except BaseException:
            if chunks_by_doc:
                self._restore_index_quietly(list(chunks_by_doc))
            raise
        return done

    def _restore_index_quietly(self, document_ids: list[str]) -> None:
        """Put the index back to what the warehouse holds; if that fails too (the disk is
        full, the server is down), say so in a line and keep the first error: the index
        mends itself from the warehouse when it is next opened (bot/index_health.py)."""
        try:
            self._restore_index(document_ids)
        except Exception as exc:  # said at -v: the first error is the owner's to read
            log.info(
                "could not put %d documents back in the index (%s); it mends them from the"
                " warehouse the next time it is opened (or `llm-twin check --repair`)",
                len(document_ids),
                exc if isinstance(exc, TwinError) else first_line(exc),
            )
            log.debug("putting documents back in the index failed", exc_info=True)

    def _restore_index(self, document_ids: list[str]) -> None:
        restored: dict[str, list[Chunk]] = {}
        for doc_id in document_ids:
            stored = self.warehouse.get_document(doc_id)
            if stored is None:
                restored[doc_id] = []
                continue
            texts = self.chunker.split(embedding_text(stored.document))
            restored[doc_id] = build_chunks(stored.document, texts, self.embedder.embed(texts))
        self.index.replace_documents(restored)


def _no_chunks(document_ids: Sequence[str]) -> dict[str, list[Chunk]]:
    """An index write that removes these documents' chunks."""
    return {doc_id: [] for doc_id in document_ids}
