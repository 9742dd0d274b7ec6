"""The index checked against the warehouse, and mended from it.

The warehouse is the source of truth and the index is derived from it, so every
disagreement is mended one way: a document the warehouse holds without chunks is
re-indexed from the warehouse (through `Ingestor.reindex`, the path `llm-twin reindex`
takes), and chunks of a document the warehouse does not hold are removed. Both happen in
the writer's warehouse transaction, which holds the database's write lock: a writer in
flight (its chunks go into the index just before its warehouse commit) is never taken
for damage, and a document removed meanwhile is not brought back.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from core.wording import plural

if TYPE_CHECKING:  # types only: a twin checks its index on every open, `forget` too
    from ingest.document import Document
    from ingest.pipeline import Ingestor
    from ingest.warehouse.store import Warehouse
    from retrieval.index import VectorIndex

__all__ = ["IndexAgreement", "Mended", "Mending", "compare", "mend"]


@dataclass(frozen=True)
class IndexAgreement:
    """How the index stands against the warehouse."""

    documents: int  # in the warehouse
    indexed: int  # documents with chunks in the index
    chunks: int
    missing: frozenset[str]  # in the warehouse, without chunks
    orphans: frozenset[str]  # with chunks, not in the warehouse

    @property
    def ok(self) -> bool:
        return not self.missing and not self.orphans

    def describe(self) -> str:
        """E.g. "300 documents, 1,204 chunks: in step with the warehouse"."""
        counts = f"{plural(self.indexed, 'document')}, {plural(self.chunks, 'chunk')}"
        if self.ok:
            return f"{counts}: in step with the warehouse"
        wrong = []
        if self.missing:
            wrong.append(f"{plural(len(self.missing), 'warehouse document')} without chunks")
        if self.orphans:
            wrong.append(f"chunks of {plural(len(self.orphans), 'removed document')}")
        return f"{counts}: {' and '.join(wrong)}"


def compare(warehouse: Warehouse, index: VectorIndex) -> IndexAgreement:
    """The document ids of both stores, compared. The warehouse is read first: a writer
    puts chunks in the index before it commits to the warehouse, so a document committed
    between the two reads shows as an orphan (which `mend` checks again under the write
    lock), never as missing."""
    stored = warehouse.document_ids()
    indexed = index.document_ids()
    return IndexAgreement(
        documents=len(stored),
        indexed=len(indexed),
        chunks=index.count(),
        missing=frozenset(stored - indexed),
        orphans=frozenset(indexed - stored),
    )


class Mending:
    """A mend's progress, read from other threads (a search says the index is being
    rebuilt while it runs); `stop()` ends it after the batch being written."""

    def __init__(self, agreement: IndexAgreement) -> None:
        self.total = len(agreement.missing)
        self.done = 0
        self.finished = False
        self._stop = threading.Event()

    def tick(self) -> None:
        self.done += 1

    def stop(self) -> None:
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def note(self) -> str | None:
        """What a search says while documents are being put back, else None."""
        if self.finished or not self.total:
            return None
        return (
            f"the index is being rebuilt from the warehouse ({self.done} of "
            f"{plural(self.total, 'document')} back so far); results may be incomplete"
        )


@dataclass(frozen=True)
class Mended:
    reindexed: int  # documents whose chunks were written again
    chunks: int
    dropped: int  # removed documents whose chunks were removed
    error: str | None = None

    def describe(self) -> str:
        parts = []
        if self.reindexed or not self.dropped:
            parts.append(
                f"{plural(self.reindexed, 'document')} re-indexed from the warehouse "
                f"({plural(self.chunks, 'chunk')})"
            )
        if self.dropped:
            parts.append(f"the chunks of {plural(self.dropped, 'removed document')} dropped")
        line = ", ".join(parts)
        return f"{line}; {self.error}" if self.error else line


async def mend(ingestor: Ingestor, agreement: IndexAgreement, mending: Mending) -> Mended:
    """Put the index back in step with the warehouse: drop orphan chunks, re-index the
    missing documents (as `llm-twin reindex` would, only these)."""
    dropped: list[str] = []
    try:
        if agreement.orphans:
            dropped = await asyncio.to_thread(ingestor.drop_orphans, sorted(agreement.orphans))
        if not agreement.missing:
            return Mended(0, 0, len(dropped))
        documents = _until_stopped(ingestor.warehouse, agreement.missing, mending)
        result = await ingestor.reindex(documents, on_document=mending.tick)
        return Mended(result.unchanged, result.chunks, len(dropped) + result.removed, result.error)
    finally:
        mending.finished = True


def _until_stopped(
    warehouse: Warehouse, ids: frozenset[str], mending: Mending
) -> Iterator[Document]:
    for stored in warehouse.documents_by_id(ids):
        if mending.stopping:
            return
        yield stored.document
