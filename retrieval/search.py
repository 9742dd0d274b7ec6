"""Hybrid search as the rest of the app calls it: embed the query off the loop, then ask
the index."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from core.errors import InputError
from retrieval.embedder import Embedder, embed_off_loop
from retrieval.fusion import reciprocal_rank_fusion
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


async def multi_query_search(
    index: VectorIndex,
    embedder: Embedder,
    queries: Sequence[str],
    *,
    k: int = 5,
    alpha: float = 0.5,
    filters: SearchFilters | None = None,
) -> list[SearchHit]:
    """One hybrid search per query (the prompt and its expansions), fused by reciprocal
    rank. Each hit keeps its best score from any query."""
    texts = list(dict.fromkeys(" ".join(q.split()) for q in queries if q.strip()))
    if not texts:
        raise InputError(repr(list(queries)), "no query to search for")
    if len(texts) == 1:
        return await hybrid_search(index, embedder, texts[0], k=k, alpha=alpha, filters=filters)
    vectors = await embed_off_loop(embedder, texts)

    def search_all() -> list[list[SearchHit]]:
        return [
            index.hybrid_search(text, vector, alpha=alpha, k=k, filters=filters)
            for text, vector in zip(texts, vectors, strict=True)
        ]

    results = await asyncio.to_thread(search_all)
    best: dict[str, SearchHit] = {}
    for hits in results:
        for hit in hits:
            kept = best.get(hit.chunk.chunk_id)
            if kept is None or hit.score > kept.score:
                best[hit.chunk.chunk_id] = hit
    order = reciprocal_rank_fusion([[hit.chunk.chunk_id for hit in hits] for hits in results])
    return [best[key] for key in order[:k]]
