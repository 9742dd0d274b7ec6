"""Hybrid search as the rest of the app calls it: embed the query off the loop, then ask
the index."""

from __future__ import annotations

import asyncio

from retrieval.embedder import Embedder, embed_off_loop
from retrieval.errors import InputError
from retrieval.index import VectorIndex
from retrieval.types import SearchFilters, SearchHit


async def hybrid_search(
    index: VectorIndex,
    embedder: Embedder,
    query: str,
    *,
    k: int = 5,
    alpha: float = 0.5,
    filters: SearchFilters | None = None,
) -> list[SearchHit]:
    text = " ".join(query.split())
    if not text:
        raise InputError(repr(query), "empty query; say what to look for")
    if not 0.0 <= alpha <= 1.0:
        raise InputError(
            f"alpha={alpha}", "alpha must be between 0 (BM25 only) and 1 (vectors only)"
        )
    if k < 1:
        raise InputError(f"k={k}", "k must be at least 1")
    vectors = await embed_off_loop(embedder, [text])
    return await asyncio.to_thread(
        index.hybrid_search, text, vectors[0], alpha=alpha, k=k, filters=filters
    )
