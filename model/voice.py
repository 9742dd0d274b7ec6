"""Voice examples: a few of the owner's own pieces of the requested format in every draft.

Besides the topical material, the prompt shows the model how the owner writes *this kind
of thing*: their LinkedIn posts for a LinkedIn draft, their X posts for a thread, their
articles for an outline (`FORMAT_PLATFORMS`). They are chosen from the owner's documents
only (author one of `OwnerSettings.author_names`, never a document marked as someone
else's, never code), by the same hybrid search as the material, filtered by platform and
author, then ranked by closeness to the request with a nudge for recency. With no writing
of that format yet the owner's nearest other writing stands in (and a note says so); with
fewer than `MIN_DOCUMENTS` documents of the owner's, there are no examples (and a note says
how many are needed). Packing (`model/packing.py`) fits them into their own token budget
and drops any document the material already shows.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from ingest.warehouse.schema import documents
from ingest.warehouse.store import Warehouse
from model.prompts import DraftFormat, Material
from model.settings import DraftSettings
from retrieval.types import SearchFilters, SearchHit

# Which platforms hold the owner's writing of each format ("answer": any of it).
FORMAT_PLATFORMS: dict[DraftFormat, tuple[str, ...]] = {
    "linkedin": ("linkedin",),
    "thread": ("x", "twitter"),
    "article": ("medium", "substack", "web", "blog", "github"),
    "answer": (),
}
_FORMAT_NAMES: dict[DraftFormat, str] = {
    "linkedin": "LinkedIn posts",
    "thread": "X posts or threads",
    "article": "articles (Medium, Substack, blog, GitHub docs)",
    "answer": "writing",
}
# Fewer of the owner's own documents than this: no voice examples at all.
MIN_DOCUMENTS = 3
# How much recency counts against closeness (0..1), and the half-life of a piece's age.
_RECENCY_WEIGHT = 0.2
_HALF_LIFE_DAYS = 365.0
# Candidates searched per example wanted: room for the dropped and the deduplicated.
_OVERSAMPLE = 4


@dataclass(frozen=True, slots=True)
class OwnedDocument:
    """One document of the owner's own writing, as the warehouse holds it."""

    id: str
    platform: str
    author: str
    published_at: datetime | None


OwnerWriting = Callable[[Sequence[str]], Awaitable[list[OwnedDocument]]]
Retrieve = Callable[..., Awaitable[list[SearchHit]]]


@dataclass(frozen=True)
class VoiceChoice:
    examples: list[Material]  # ranked, best first; packing keeps what fits
    notes: list[str]


def is_owner(author: str, names: Sequence[str]) -> bool:
    """Whether `author` is one of the owner's names or handles (case, "@" and spacing
    ignored); "*" accepts everyone."""
    if "*" in names:
        return True
    wanted = {_name_key(n) for n in names if n.strip()}
    return bool(author.strip()) and _name_key(author) in wanted


def owner_rows(
    warehouse: Warehouse, names: Sequence[str], *columns: sa.ColumnElement[Any]
) -> list[sa.Row[Any]]:
    """`columns` (and `author`) of the owner's documents in the warehouse: `owned` not
    False, not code, by one of `names`. The one authorship rule for everything that
    learns the owner's voice from the warehouse (voice examples, the style profile)."""
    query = sa.select(documents.c.author, *columns).where(
        sa.or_(documents.c.owned.is_(None), documents.c.owned.is_(True)),
        # meta is written with json.dumps(sort_keys=True): this is its spelling
        ~documents.c.meta.contains('"kind": "code"'),
    )
    with warehouse.guard("reading your writing"), warehouse.engine.connect() as conn:
        rows = conn.execute(query).all()
    return [row for row in rows if is_owner(row.author, names)]


def warehouse_writing(warehouse: Warehouse) -> OwnerWriting:
    """The owner's documents in the warehouse (`owner_rows`)."""

    def read(names: Sequence[str]) -> list[OwnedDocument]:
        c = documents.c
        rows = owner_rows(warehouse, names, c.id, c.platform, c.published_at)
        return [OwnedDocument(row.id, row.platform, row.author, row.published_at) for row in rows]

    async def owner_writing(names: Sequence[str]) -> list[OwnedDocument]:
        return await asyncio.to_thread(read, names)

    return owner_writing


async def choose_voice(
    retrieve: Retrieve,
    writing: OwnerWriting,
    query: str,
    fmt: DraftFormat,
    *,
    names: Sequence[str],
    settings: DraftSettings,
) -> VoiceChoice:
    """The owner's pieces of `fmt` closest to `query` (recent ones a little ahead), one
    passage per document, for packing; and the notes the owner should see."""
    if settings.voice_examples == 0 or settings.voice_tokens == 0:
        return VoiceChoice([], [])
    if not names:
        return VoiceChoice([], [_NO_NAMES])
    owned = await writing(names)
    if len(owned) < MIN_DOCUMENTS:
        return VoiceChoice([], [_too_few(len(owned))])
    platforms = FORMAT_PLATFORMS[fmt]
    pool = [d for d in owned if not platforms or d.platform in platforms]
    notes: list[str] = []
    if not pool:
        pool = owned
        notes.append(
            f"no {_FORMAT_NAMES[fmt]} of yours yet: voice examples are from your other writing"
        )
    by_id = {d.id: d for d in pool}
    filters = SearchFilters(
        platforms=tuple(sorted({d.platform for d in pool})),
        authors=() if "*" in names else tuple(sorted({d.author for d in pool})),
    )
    hits = await retrieve([query or fmt], k=settings.voice_examples * _OVERSAMPLE, filters=filters)
    ranked = _rank([h for h in hits if h.chunk.document_id in by_id], by_id)
    return VoiceChoice([_example(hit) for hit in ranked], notes)


def _rank(hits: list[SearchHit], by_id: dict[str, OwnedDocument]) -> list[SearchHit]:
    """One hit per document (its best), by closeness with a nudge for recency."""
    best: dict[str, SearchHit] = {}
    for hit in hits:
        kept = best.get(hit.chunk.document_id)
        if kept is None or hit.score > kept.score:
            best[hit.chunk.document_id] = hit
    now = datetime.now(UTC)

    def weight(hit: SearchHit) -> float:
        published = by_id[hit.chunk.document_id].published_at or hit.chunk.published_at
        recency = 0.0
        if published is not None:
            if published.tzinfo is None:
                published = published.replace(tzinfo=UTC)
            age_days = max(0.0, (now - published).total_seconds() / 86400)
            recency = 0.5 ** (age_days / _HALF_LIFE_DAYS)
        return (1 - _RECENCY_WEIGHT) * hit.score + _RECENCY_WEIGHT * recency

    return sorted(best.values(), key=weight, reverse=True)


def _example(hit: SearchHit) -> Material:
    chunk = hit.chunk
    return Material(
        chunk.text,
        chunk.title,
        chunk.url,
        "voice",
        chunk.published_at,
        chunk_id=chunk.chunk_id,
        document_id=chunk.document_id,
    )


_NO_NAMES = (
    "no voice examples: set owner.name (or owner.names, your author names and handles) so "
    "your own writing can be told from others'"
)


def _too_few(count: int) -> str:
    return (
        f"no voice examples: they need at least {MIN_DOCUMENTS} documents of your own "
        f"writing, and there {'is' if count == 1 else 'are'} {count}; add "
        f"{MIN_DOCUMENTS - count} more (e.g. a link to a post of yours)"
    )


def _name_key(name: str) -> str:
    return " ".join(name.strip().lstrip("@").lower().split())
