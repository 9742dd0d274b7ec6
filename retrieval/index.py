"""The `VectorIndex` seam, its manifest, and opening a backend by its registered name
(entry point group `llm_twin.index`, see core/plugins.py)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np

from core import plugins
from core.errors import IndexMismatchError, StorageError
from core.files import write_atomically
from retrieval.settings import IndexSettings
from retrieval.types import Chunk, SearchFilters, SearchHit, Vector


@dataclass(frozen=True, slots=True)
class IndexManifest:
    """What an index was built with. Stored beside the index and checked on every open."""

    embedding_model: str
    dimension: int
    chunk_tokens: int
    chunk_overlap: int

    def check_against(self, stored: IndexManifest, where: str) -> None:
        """Raise if `stored` (on disk) differs from self (configured now)."""
        diffs = [
            f"{name}: index has {getattr(stored, name)!r}, config has {getattr(self, name)!r}"
            for name in ("embedding_model", "dimension", "chunk_tokens", "chunk_overlap")
            if getattr(stored, name) != getattr(self, name)
        ]
        if diffs:
            raise IndexMismatchError(
                f"the index at {where} was built with other settings ({'; '.join(diffs)}). "
                "Run `llm-twin reindex` to rebuild it from the warehouse."
            )

    def write(self, path: Path) -> None:
        write_atomically(path, json.dumps(asdict(self), indent=2) + "\n")

    @classmethod
    def read(cls, path: Path) -> IndexManifest:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls(**data)
        except (OSError, ValueError, TypeError) as exc:
            raise StorageError(
                f"cannot read the index manifest {path} ({exc}). "
                "Run `llm-twin reindex` to rebuild the index from the warehouse."
            ) from exc


def check_vector(vector: Vector, manifest: IndexManifest, *, where: str, what: str) -> None:
    """A vector the index at `where` can hold: the manifest's dimension, finite values."""
    shape, dim = np.shape(vector), manifest.dimension
    if shape != (dim,):
        raise IndexMismatchError(
            f"{what} has a vector of shape {shape}, but the index at {where} holds "
            f"{dim}-dimensional vectors of {manifest.embedding_model!r}. Embed with "
            "the configured model, or run `llm-twin reindex` after changing it."
        )
    if not np.all(np.isfinite(vector)):
        raise ValueError(f"{what} has a vector with NaN or infinite values")


def checked_chunks(
    chunks_by_document: Mapping[str, Sequence[Chunk]], manifest: IndexManifest, *, where: str
) -> list[Chunk]:
    """Every chunk of a write, validated before anything is written: unique ids, each under
    its own document, each with a vector the index can hold."""
    chunks = [c for cs in chunks_by_document.values() for c in cs]
    if len({c.chunk_id for c in chunks}) != len(chunks):
        raise ValueError("a chunk id appears twice in one write")
    for document_id, cs in chunks_by_document.items():
        for c in cs:
            if c.document_id != document_id:
                raise ValueError(f"chunk {c.chunk_id} is not part of {document_id}")
            if c.vector is None:
                raise ValueError(f"chunk {c.chunk_id} has no vector; embed it first")
            check_vector(c.vector, manifest, where=where, what=f"chunk {c.chunk_id}")
    return chunks


def check_search(alpha: float, k: int) -> None:
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be between 0 and 1, got {alpha}")
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")


@runtime_checkable
class VectorIndex(Protocol):
    """A searchable store of chunks. Synchronous: callers run it off the event loop.

    Contract (tested against every backend in tests/retrieval/test_index_contract.py):
    - `replace_document(s)` atomically swap all chunks of the given documents for the
      given ones (an empty list deletes the document's chunks).
    - `hybrid_search` with alpha=0 ranks by BM25 only, alpha=1 by vector similarity only,
      in between by relative-score fusion; scores are in [0, 1], best first.
    """

    backend: ClassVar[str]

    def replace_document(self, document_id: str, chunks: Sequence[Chunk]) -> None: ...

    def replace_documents(self, chunks_by_document: Mapping[str, Sequence[Chunk]]) -> None:
        """Like `replace_document` for many documents, in ONE atomic commit (the ingest
        pipeline writes a batch per commit)."""
        ...

    def delete_document(self, document_id: str) -> int: ...

    def hybrid_search(
        self,
        text: str,
        vector: Vector,
        *,
        alpha: float = 0.5,
        k: int = 5,
        filters: SearchFilters | None = None,
    ) -> list[SearchHit]: ...

    def count(self) -> int: ...

    def document_ids(self) -> set[str]: ...

    def clear(self) -> None: ...

    def optimize(self) -> None: ...


def index_backend(name: str) -> Any:
    """The class registered as index backend `name` (entry point group `llm_twin.index`):
    a `VectorIndex` with a `from_settings(settings, *, manifest, path, api_key, reset)`
    classmethod."""
    return plugins.load(plugins.INDEX, name, key="index.backend")


def open_index(name: str, **options: Any) -> VectorIndex:
    """Open backend `name` with its own constructor's options (tests and benches)."""
    index: VectorIndex = index_backend(name)(**options)
    return index


def open_configured_index(
    settings: IndexSettings,
    manifest: IndexManifest,
    *,
    path: Path,
    api_key: str | None = None,
    reset: bool = False,
) -> VectorIndex:
    """Open the index `[index]` configures; `path` is where an embedded backend keeps it."""
    index: VectorIndex = index_backend(settings.backend).from_settings(
        settings, manifest=manifest, path=path, api_key=api_key, reset=reset
    )
    return index
