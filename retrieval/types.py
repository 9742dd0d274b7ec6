"""Records that cross the index seam."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import numpy.typing as npt

Vector = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class Chunk:
    """A passage of one document, with its provenance, ready to be indexed.

    `chunk_id` is derived from the document id and the chunk's ordinal, so re-indexing a
    document replaces its chunks instead of adding new ones.
    """

    chunk_id: str
    document_id: str
    ordinal: int
    text: str
    url: str
    title: str
    platform: str
    author: str
    published_at: datetime | None
    vector: Vector | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class SearchFilters:
    """Restrict a search to some platforms, authors and a publication-date window."""

    platforms: tuple[str, ...] = ()
    authors: tuple[str, ...] = ()
    published_after: datetime | None = None
    published_before: datetime | None = None

    def is_empty(self) -> bool:
        return not (self.platforms or self.authors or self.published_after or self.published_before)


@dataclass(frozen=True, slots=True)
class SearchHit:
    """One ranked passage. `score` is the fused score in [0, 1]; higher is better."""

    chunk: Chunk
    score: float
    bm25_score: float | None = None
    vector_score: float | None = None

    def snippet(self, limit: int) -> str:
        """The passage on one line, cut to `limit` characters with an ellipsis; without
        the title that leads a document's first chunk (it is shown beside the snippet)."""
        text = " ".join(self.chunk.text.split())
        title = " ".join(self.chunk.title.split())
        if title and text.startswith(title) and len(text) > len(title):
            text = text[len(title) :].lstrip(" :—-")
        return text if len(text) <= limit else text[: limit - 1] + "…"
