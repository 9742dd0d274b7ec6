"""Hybrid search is at least as good as the better of pure BM25 and pure vector search,
on recall@5 over a labelled query set (tests/e2e/retrieval_queries.py), through the real
pipeline: fifteen real web pages served over HTTP plus the bundled sample files."""

from __future__ import annotations

from pathlib import Path

from bot.config import load_config
from bot.twin import Twin
from tests.e2e.retrieval_queries import QUERIES
from tests.http_server import FIXTURES, LocalServer

SAMPLE = Path(__file__).resolve().parents[2] / "sample"
K = 5


async def test_hybrid_recall_at_5_beats_either_leg(server: LocalServer, tmp_path: Path) -> None:
    twin = Twin(load_config({"ingest.allowed_networks": "127.0.0.1/32"}, home=tmp_path))
    pages = sorted(p.name for p in (FIXTURES / "pages").glob("*.html"))
    urls = {name: server.fixture_page(name) for name in pages}
    async with twin.ingestor() as ingestor:
        results = await ingestor.ingest([*urls.values(), str(SAMPLE)], allow_paths=True)
    assert all(r.ok for r in results), [r.error for r in results if not r.ok]
    for name in {label for _, label in QUERIES if label.endswith(".md")}:
        urls[name] = (SAMPLE / name).resolve().as_uri()

    # Rank of the labelled document among the top 10, per query and alpha.
    ranks: dict[float, list[int | None]] = {}
    for alpha in (0.0, 0.5, 1.0):
        ranks[alpha] = []
        for query, label in QUERIES:
            hits = await twin.search(query, k=10, alpha=alpha)
            ranked = list(dict.fromkeys(h.chunk.url for h in hits))
            ranks[alpha].append(ranked.index(urls[label]) + 1 if urls[label] in ranked else None)

    def recall_at(alpha: float, k: int) -> float:
        return sum(1 for r in ranks[alpha] if r is not None and r <= k) / len(QUERIES)

    def mrr(alpha: float) -> float:
        return sum(1 / r for r in ranks[alpha] if r is not None) / len(QUERIES)

    recall = {alpha: recall_at(alpha, K) for alpha in ranks}
    print(f"\n{len(QUERIES)} queries over {twin.index.count()} chunks")
    print(f"  {'':<20} recall@1  recall@{K}  MRR@10")
    for alpha, name in (
        (0.0, "BM25 (alpha=0)"),
        (1.0, "vector (alpha=1)"),
        (0.5, "hybrid (alpha=0.5)"),
    ):
        print(f"  {name:<20} {recall_at(alpha, 1):8.3f}  {recall[alpha]:8.3f}  {mrr(alpha):6.3f}")
    twin.close()

    assert recall[0.5] >= max(recall[0.0], recall[1.0])
    assert recall[0.5] >= 0.85  # a floor, so a broken embedder or tokenizer cannot pass
