"""Hybrid-search latency of the LanceDB index at 10k and 100k chunks.

Target: hybrid (alpha=0.5, k=5) p95 ≤ 50 ms at 100k chunks on a 2-core machine.
Each table is built as the product builds it (`LanceIndex.replace_documents`, then
`optimize()`, which builds the ANN index past `ann_min_rows`). Texts are 4-8 sentences
sampled from the fixture pages; vectors are random unit vectors of dimension 384 (like
all-MiniLM-L6-v2): fine for latency, meaningless for relevance. Every query runs all
variants back to back, so the ratios compare hybrid with its own legs in the same run.

    python bench/search_bench.py [--sizes 10000 100000] [--queries 200]
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from retrieval.index import IndexManifest
from retrieval.lance import DEFAULT_ANN_MIN_ROWS, LanceIndex
from retrieval.types import Chunk, SearchFilters, SearchHit, Vector

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "pages"
DIM = 384
CHUNKS_PER_DOC = 8
CHUNKS_PER_COMMIT = 5_000  # the ingest default is 256; bigger commits keep the build short
PLATFORMS = ["linkedin", "medium", "substack", "github", "x"]
AUTHORS = ["Owner", "Guest Writer", "Co-author"]
FILTERS = SearchFilters(
    platforms=("linkedin", "medium"), published_after=datetime(2022, 1, 1, tzinfo=UTC)
)


def sentences() -> list[str]:
    """Real-world prose: sentences of the fixture pages' paragraphs, crudely de-tagged."""
    out: list[str] = []
    for page in sorted(FIXTURES.glob("*.html")):
        html = page.read_text(encoding="utf-8", errors="replace")
        for match in re.finditer(r"<p[^>]*>(.*?)</p>", html, flags=re.S | re.I):
            text = " ".join(re.sub(r"<[^>]+>|&[a-z#0-9]+;", " ", match.group(1)).split())
            out += [s for s in re.split(r"(?<=[.!?])\s+", text) if 30 < len(s) < 400]
    return out


def unit_vectors(rng: np.random.Generator, n: int) -> Vector:
    v = rng.standard_normal((n, DIM)).astype(np.float32)
    norms: Vector = np.linalg.norm(v, axis=1, keepdims=True)
    return v / norms


def build(path: Path, size: int, pool: list[str], seed: int) -> tuple[LanceIndex, float, float]:
    rng, nrng = random.Random(seed), np.random.default_rng(seed)
    manifest = IndexManifest("bench/random-unit-vectors", DIM, 200, 32)
    index = LanceIndex(path, manifest)
    start_day = datetime(2019, 1, 1, tzinfo=UTC)
    write_seconds = 0.0
    for first in range(0, size, CHUNKS_PER_COMMIT):
        n = min(CHUNKS_PER_COMMIT, size - first)
        vectors = unit_vectors(nrng, n)
        batch: dict[str, list[Chunk]] = {}
        for i in range(n):
            row = first + i
            doc = f"doc-{row // CHUNKS_PER_DOC}"
            batch.setdefault(doc, []).append(
                Chunk(
                    chunk_id=f"{doc}#{row % CHUNKS_PER_DOC}",
                    document_id=doc,
                    ordinal=row % CHUNKS_PER_DOC,
                    text=" ".join(rng.sample(pool, rng.randint(4, 8))),
                    url=f"https://example.com/{doc}",
                    title=f"Post {doc}",
                    platform=PLATFORMS[(row // CHUNKS_PER_DOC) % len(PLATFORMS)],
                    author=AUTHORS[(row // CHUNKS_PER_DOC) % len(AUTHORS)],
                    published_at=start_day + timedelta(days=rng.randrange(6 * 365)),
                    vector=vectors[i],
                )
            )
        started = time.perf_counter()
        index.replace_documents(batch)
        write_seconds += time.perf_counter() - started
    started = time.perf_counter()
    index.optimize()
    return index, write_seconds, time.perf_counter() - started


def queries(pool: list[str], n: int, seed: int) -> list[tuple[str, Vector]]:
    rng, nrng = random.Random(seed), np.random.default_rng(seed)
    out = []
    for vector in unit_vectors(nrng, n):
        words = [w.strip(".,;:!?()\"'") for w in rng.choice(pool).split()]
        words = [w for w in words if len(w) > 3] or ["python"]
        out.append((" ".join(rng.sample(words, min(len(words), rng.randint(2, 5)))), vector))
    return out


def measure(index: LanceIndex, qs: list[tuple[str, Vector]]) -> dict[str, list[float]]:
    variants: dict[str, Callable[[str, Vector], list[SearchHit]]] = {
        "hybrid a=0.5": lambda t, v: index.hybrid_search(t, v, alpha=0.5, k=5),
        "hybrid a=0.5 filtered": lambda t, v: index.hybrid_search(
            t, v, alpha=0.5, k=5, filters=FILTERS
        ),
        "bm25 only (a=0)": lambda t, v: index.hybrid_search(t, v, alpha=0.0, k=5),
        "vector only (a=1)": lambda t, v: index.hybrid_search(t, v, alpha=1.0, k=5),
    }
    for text, vector in qs[:10]:  # warm-up: caches, lazy index loads
        for run in variants.values():
            run(text, vector)
    times: dict[str, list[float]] = {name: [] for name in variants}
    for text, vector in qs:
        for name, run in variants.items():
            started = time.perf_counter()
            run(text, vector)
            times[name].append((time.perf_counter() - started) * 1000)
    return times


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()
    pool = sentences()
    qs = queries(pool, args.queries, seed=1)
    print(f"vectors: random unit vectors, dim {DIM} (latency only, not relevance)")
    print(f"texts: 4-8 sentences each from {len(pool)} fixture sentences; k=5, candidates=50")
    print(f"queries: {len(qs)} per variant; ANN index past {DEFAULT_ANN_MIN_ROWS} rows\n")
    header = f"{'chunks':>8}  {'variant':<22} {'p50 ms':>7} {'p95 ms':>7} {'mean ms':>8}"
    rows: list[str] = []
    notes: list[str] = []
    for size in args.sizes:
        with tempfile.TemporaryDirectory() as tmp:
            index, write_s, optimize_s = build(Path(tmp) / "index", size, pool, seed=size)
            times = measure(index, qs)
        ann = "ANN (IVF_HNSW_SQ)" if size >= DEFAULT_ANN_MIN_ROWS else "exact"
        notes.append(
            f"{size:>8}: writes {write_s:.1f} s, optimize() {optimize_s:.1f} s, vector search {ann}"
        )
        for name, values in times.items():
            rows.append(
                f"{size:>8}  {name:<22} {pct(values, 0.5):7.1f} {pct(values, 0.95):7.1f} "
                f"{statistics.fmean(values):8.1f}"
            )
        hybrid, bm25, vector = (
            statistics.median(times[n])
            for n in ("hybrid a=0.5", "bm25 only (a=0)", "vector only (a=1)")
        )
        rows.append(
            f"{size:>8}  ratios (p50): hybrid/bm25 {hybrid / bm25:.2f}, hybrid/vector "
            f"{hybrid / vector:.2f}, hybrid/(bm25+vector) {hybrid / (bm25 + vector):.2f}"
        )
    print("build:")
    print("\n".join(notes))
    print()
    print(header)
    print("\n".join(rows))


if __name__ == "__main__":
    main()
