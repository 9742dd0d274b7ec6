"""Relative-score fusion of a BM25 and a vector result list.

The same arithmetic as Weaviate's `relativeScoreFusion`, so every backend ranks alike:
each list's scores are min-max normalised to [0, 1] (a list whose scores are all equal
normalises to 1.0), then fused = alpha * vector + (1 - alpha) * bm25, where a result
missing from one list gets 0 from it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

# One leg's results, best first: (key, raw score); higher raw score is better.
Ranked = Sequence[tuple[str, float]]


@dataclass(frozen=True, slots=True)
class FusedScore:
    """One fused result. The per-leg scores are the raw ones (None: absent from that leg)."""

    key: str
    score: float
    bm25_score: float | None
    vector_score: float | None


def normalize(scores: Sequence[float]) -> list[float]:
    """Min-max normalise to [0, 1]; all-equal scores (one result included) become 1.0."""
    if not scores:
        return []
    low, high = min(scores), max(scores)
    if high == low:
        return [1.0] * len(scores)
    return [(s - low) / (high - low) for s in scores]


def _first_wins(ranked: Ranked) -> dict[str, float]:
    """Raw scores by key; a key listed twice keeps its first (best-ranked) score."""
    out: dict[str, float] = {}
    for key, score in ranked:
        out.setdefault(key, score)
    return out


def relative_score_fusion(bm25: Ranked, vector: Ranked, alpha: float) -> list[FusedScore]:
    """Fuse two ranked lists; best first, scores in [0, 1].

    Ties are broken by the best position a key reached in either list, then by key, so the
    order is deterministic.
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be between 0 (BM25 only) and 1 (vectors only), got {alpha}")
    raw_bm25, raw_vector = _first_wins(bm25), _first_wins(vector)
    norm_bm25 = dict(zip(raw_bm25, normalize(list(raw_bm25.values())), strict=True))
    norm_vector = dict(zip(raw_vector, normalize(list(raw_vector.values())), strict=True))
    best_rank: dict[str, int] = {}
    for ranked in (raw_bm25, raw_vector):
        for rank, key in enumerate(ranked):
            best_rank[key] = min(rank, best_rank.get(key, rank))
    fused = [
        FusedScore(
            key=key,
            # min(): float rounding may push a perfect score a hair above 1.
            score=min(
                1.0, alpha * norm_vector.get(key, 0.0) + (1.0 - alpha) * norm_bm25.get(key, 0.0)
            ),
            bm25_score=raw_bm25.get(key),
            vector_score=raw_vector.get(key),
        )
        for key in best_rank
    ]
    fused.sort(key=lambda f: (-f.score, best_rank[f.key], f.key))
    return fused


def reciprocal_rank_fusion(rankings: Sequence[Sequence[str]], *, k: int = 60) -> list[str]:
    """Keys of several rankings merged by reciprocal rank (Cormack et al., k=60): robust
    when the lists' scores are not comparable, as with one search per expanded query."""
    scores: dict[str, float] = {}
    for ranking in rankings:
        for rank, key in enumerate(ranking):
            scores[key] = scores.get(key, 0.0) + 1.0 / (k + rank + 1)
    return sorted(scores, key=lambda key: -scores[key])
