"""Ingestion throughput and peak memory for 1,000 documents.

Baseline: the raw embedder on exactly the chunk texts the pipeline produces (same model,
same batch size). Measured: `llm-twin ingest` of the same 1,000 documents (local markdown
files: read, clean, hash, chunk, embed, write warehouse + index). Each leg runs in its own
process, after a warm-up, so peak RSS is per leg. Target: pipeline ≥ 0.8 × raw throughput;
pipeline peak RSS ≤ 1 GB.

    python bench/ingest_bench.py [--docs 1000]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "pages"


def paragraphs() -> list[str]:
    """Real-world prose: paragraphs of the fixture pages, crudely de-tagged."""
    out: list[str] = []
    for page in sorted(FIXTURES.glob("*.html")):
        html = page.read_text(encoding="utf-8", errors="replace")
        for match in re.finditer(r"<p[^>]*>(.*?)</p>", html, flags=re.S | re.I):
            text = re.sub(r"<[^>]+>|&[a-z#0-9]+;", " ", match.group(1))
            text = " ".join(text.split())
            if len(text) > 120:
                out.append(text)
    return out


def write_corpus(root: Path, docs: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    pool = paragraphs()
    for i in range(docs):
        body = "\n\n".join(rng.sample(pool, rng.randint(3, 6)))
        (root / f"post-{i:04d}.md").write_text(
            f"---\ntitle: Post {i}\nauthor: Bench Owner\ndate: 2026-01-01\n---\n{body}\n",
            encoding="utf-8",
        )


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def leg_raw(corpus: Path) -> dict[str, float]:
    from bot.config import load_config
    from bot.twin import Twin
    from ingest.extractors.local import extract_path
    from ingest.writer import embedding_text

    twin = Twin(load_config())
    texts = [
        chunk for doc in extract_path(corpus) for chunk in twin.chunker.split(embedding_text(doc))
    ]
    twin.embedder.embed(texts[:16])  # warm-up
    start = time.perf_counter()
    twin.embedder.embed(texts)
    seconds = time.perf_counter() - start
    return {"chunks": len(texts), "seconds": seconds, "peak_rss_mb": peak_rss_mb()}


def leg_pipeline(corpus: Path) -> dict[str, float]:
    import asyncio

    from bot.config import load_config
    from bot.twin import Twin
    from ingest.results import InputResult
    from retrieval.embedder import embed_off_loop

    twin = Twin(load_config())
    _ = twin.index, twin.chunker

    async def go() -> tuple[InputResult, float]:
        # Warm up on the embedding thread the pipeline itself uses, as a long-running
        # bot would have.
        await embed_off_loop(twin.embedder, ["warm-up"] * 16)
        async with twin.ingestor() as ingestor:
            start = time.perf_counter()
            [result] = await ingestor.ingest([str(corpus)], allow_paths=True)
            return result, time.perf_counter() - start

    result, seconds = asyncio.run(go())
    assert result.ok, result.error
    return {
        "documents": result.documents,
        "chunks": result.chunks,
        "seconds": seconds,
        "peak_rss_mb": peak_rss_mb(),
    }


def run_leg(name: str, corpus: Path, home: Path) -> dict[str, float]:
    env = {**os.environ, "TWIN_HOME": str(home)}
    out = subprocess.run(
        [sys.executable, __file__, "--leg", name, "--corpus", str(corpus)],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=1000)
    parser.add_argument("--leg", choices=["raw", "pipeline"], help=argparse.SUPPRESS)
    parser.add_argument("--corpus", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.leg:
        leg = leg_raw if args.leg == "raw" else leg_pipeline
        print(json.dumps(leg(args.corpus)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "corpus"
        corpus.mkdir()
        write_corpus(corpus, args.docs)
        raw = run_leg("raw", corpus, Path(tmp) / "home-raw")
        pipe = run_leg("pipeline", corpus, Path(tmp) / "home-pipeline")
    raw_rate = raw["chunks"] / raw["seconds"]
    pipe_rate = pipe["chunks"] / pipe["seconds"]
    print(f"documents            {int(pipe['documents'])}")
    print(f"chunks               {int(pipe['chunks'])} (raw leg: {int(raw['chunks'])})")
    print(
        f"raw embedder         {raw['seconds']:.1f} s  {raw_rate:.1f} chunks/s  "
        f"peak RSS {raw['peak_rss_mb']:.0f} MB"
    )
    print(
        f"ingest pipeline      {pipe['seconds']:.1f} s  {pipe_rate:.1f} chunks/s  "
        f"peak RSS {pipe['peak_rss_mb']:.0f} MB"
    )
    print(f"throughput ratio     {pipe_rate / raw_rate:.2f}  (target ≥ 0.80)")
    print(f"pipeline peak RSS    {pipe['peak_rss_mb']:.0f} MB  (target ≤ 1024 MB)")


if __name__ == "__main__":
    main()
