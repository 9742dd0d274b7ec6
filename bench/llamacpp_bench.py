"""The llamacpp backend against hf, and against plain llama-cpp-python, in one run.

All legs draft from the same bundled GGUF (SmolLM2-135M-Instruct, Q4_1) with the same
chat messages, greedy, `--new-tokens` tokens, at ~40 and ~1,500 prompt tokens; one
warm-up, then `--repeats` rounds, each running every leg back to back:

a. Decode tokens/s and time to first token: `hf` (transformers on the dequantized GGUF),
   `llamacpp` (our backend's `stream()`), and `plain` (llama-cpp-python's own
   `create_completion(stream=True)` on the same prompt tokens, a second `Llama` on the
   same file with the same threads and context options: the baseline for the backend's
   overhead).
   Each round's system prompt starts with its round number, so no leg reuses a cached
   prompt. Targets: llamacpp decode ≥ 5 × hf; llamacpp ≥ 0.9 × plain; TTFT no worse
   than hf.
b. One whole draft per backend, end to end: `sample/` ingested into a temp TWIN_HOME, then
   `DraftWriter.write` for 3 LinkedIn prompts (drafting.max_new_tokens 200, temperature
   0), broken down into retrieval, time to first token and decoding.
c. Resident memory of a fresh process holding the default model (and one after a short
   draft): llamacpp against hf. Target: ≤ 0.5 × the 928 MB measured for hf before.

    python bench/llamacpp_bench.py [--repeats 3] [--new-tokens 200]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample"
BEFORE_RSS_MB = 928
DRAFT_PROMPTS = [
    "why we start every project with the smallest model that works",
    "what being on call taught me about writing things down",
    "is SQLite enough for a small team's first warehouse?",
]
SYSTEM = "You write as Sam Rivera: short, concrete, first person."


def gguf() -> Path:
    from model.hf import default_model_source

    source = default_model_source()
    assert source.gguf_file
    return Path(source.location) / source.gguf_file


def messages_of(target: int, count: Any) -> list[Any]:
    """System + user messages of about `target` prompt tokens (material from sample/)."""
    from model.generator import Message

    material = " ".join(p.read_text(encoding="utf-8") for p in sorted(SAMPLE.glob("*.md")))
    words = material.split()
    ask = "Write a LinkedIn post about shipping the small model first."
    low, high = 0, len(words) * 4
    best = [Message("system", SYSTEM), Message("user", ask)]
    while low < high:  # the most material that stays within the target
        mid = (low + high + 1) // 2
        body = " ".join((words * 4)[:mid])
        candidate = [Message("system", SYSTEM), Message("user", f"{body}\n\n{ask}")]
        if count(candidate) <= target:
            low, best = mid, candidate
        else:
            high = mid - 1
    return best


async def timed_stream(generator: Any, messages: list[Any], new_tokens: int) -> dict[str, float]:
    from model.generator import Finished, GenerationParams

    params = GenerationParams(max_new_tokens=new_tokens, temperature=0.0, repetition_penalty=1.0)
    started = time.perf_counter()
    finished = None
    async for event in generator.stream(messages, params):
        if isinstance(event, Finished):
            finished = event
    assert finished is not None
    total = time.perf_counter() - started
    return {
        "ttft_s": finished.time_to_first_token,
        "decode_tps": finished.tokens_per_second,
        "tokens": finished.completion_tokens,
        "total_s": total,
    }


def plain_stream(llama: Any, tokens: list[int], new_tokens: int) -> dict[str, float]:
    """llama-cpp-python on its own: the same prompt tokens, greedy, streamed."""
    llama.reset()
    started = time.perf_counter()
    first = None
    count = 0
    for _ in llama.create_completion(
        tokens, max_tokens=new_tokens, temperature=0.0, repeat_penalty=1.0, stream=True
    ):
        count += 1
        if first is None:
            first = time.perf_counter()
    end = time.perf_counter()
    first = first or end
    rate = (count - 1) / (end - first) if count > 1 and end > first else 0.0
    total = end - started
    return {"ttft_s": first - started, "decode_tps": rate, "tokens": count, "total_s": total}


async def speed(args: argparse.Namespace) -> dict[str, Any]:
    import llama_cpp
    from gguf import GGUFReader

    from model.gguf import has_quantized_weights
    from model.hf import HfGenerator, default_model_source
    from model.llamacpp import LlamaCppGenerator, context_options

    cache = Path(tempfile.mkdtemp(prefix="bench-models-"))
    hf = HfGenerator(default_model_source(), cache_dir=cache)
    weights = args.gguf or gguf()
    ours = LlamaCppGenerator(weights, max_seq_len=4096, threads=args.threads)
    plain = llama_cpp.Llama(
        model_path=str(weights),
        n_ctx=4096,
        n_threads=ours.threads,
        **context_options(quantized=has_quantized_weights(GGUFReader(weights))),
        verbose=False,
    )
    results: dict[str, Any] = {}
    for target in args.prompt_tokens:
        base = messages_of(target, ours.count_tokens)
        legs: dict[str, list[dict[str, float]]] = {"hf": [], "llamacpp": [], "plain": []}
        for round_ in range(args.repeats + 1):  # round 0 warms up
            # A prompt of its own each round, so llama.cpp's prefix cache cannot skip the
            # prompt: every time to first token includes reading the whole prompt.
            messages = [replace(base[0], content=f"Round {round_}. {base[0].content}"), *base[1:]]
            tokens = ours.encode(messages)
            runs = {
                "hf": await timed_stream(hf, messages, args.new_tokens),
                "llamacpp": await timed_stream(ours, messages, args.new_tokens),
                "plain": await asyncio.to_thread(plain_stream, plain, tokens, args.new_tokens),
            }
            if round_:
                for name, run in runs.items():
                    legs[name].append(run)
        results[str(len(ours.encode(base)))] = {
            name: {key: statistics.median(r[key] for r in runs) for key in runs[0]}
            for name, runs in legs.items()
        }
    await hf.aclose()
    await ours.aclose()
    plain.close()
    return results


async def draft_breakdown(backend: str, home: Path) -> list[dict[str, float]]:
    from bot.config import load_config
    from bot.twin import Twin
    from model.draft import DraftDone, DraftRequest

    config = load_config(
        {
            "model.backend": backend,
            "drafting.max_new_tokens": "200",
            "drafting.temperature": "0",
            "owner.name": "Sam Rivera",
        },
        env={},
        home=home,
    )
    twin = Twin(config)
    rows = []
    try:
        async with twin.draft_writer() as writer:
            for prompt in DRAFT_PROMPTS:
                started = time.perf_counter()
                async for event in writer.write(DraftRequest(prompt)):
                    if isinstance(event, DraftDone):
                        t = event.draft.timings
                        rows.append(
                            {
                                "retrieval_s": t.get("retrieval_ms", 0) / 1000,
                                "ttft_s": t.get("time_to_first_token_s", 0.0),
                                "decode_tps": t.get("tokens_per_second", 0.0),
                                "tokens": t.get("completion_tokens", 0),
                                "total_s": time.perf_counter() - started,
                            }
                        )
    finally:
        await twin.aclose()
    return rows


def memory(backend: str) -> dict[str, float]:
    """Resident memory of a fresh process that loads the default model on `backend`."""
    code = f"""
import asyncio, json, resource, tempfile
from pathlib import Path
from model.backends import open_generator
from model.generator import GenerationParams, Message
from model.settings import ModelSettings

def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024

async def main():
    cache = Path(tempfile.mkdtemp())
    settings = ModelSettings(backend={backend!r})
    warm = await open_generator(settings, cache_dir=cache)  # dequantizes hf's cache once
    await warm.aclose()
    del warm
    generator = await open_generator(settings, cache_dir=cache)
    loaded = rss()
    params = GenerationParams(max_new_tokens=32, temperature=0.0)
    async for _ in generator.stream([Message("user", "Say hello.")], params):
        pass
    print(json.dumps({{"loaded_mb": loaded, "after_draft_mb": rss(),
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))

asyncio.run(main())
"""
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def ingest_sample(home: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "bot", "--home", str(home), "ingest", str(SAMPLE)],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )


def report(results: dict[str, Any], drafts: dict[str, Any], rss: dict[str, Any]) -> None:
    print("\n## a. speed (median of rounds; greedy)\n")
    print("| prompt tokens | leg | TTFT s | decode tok/s | vs hf | vs plain |")
    print("|---|---|---|---|---|---|")
    for size, legs in results.items():
        for name in ("hf", "llamacpp", "plain"):
            leg = legs[name]
            vs_hf = leg["decode_tps"] / legs["hf"]["decode_tps"]
            vs_plain = leg["decode_tps"] / legs["plain"]["decode_tps"]
            print(
                f"| {size} | {name} | {leg['ttft_s']:.3f} | {leg['decode_tps']:.1f} "
                f"| {vs_hf:.2f}× | {vs_plain:.2f}× |"
            )
    print("\n## b. a whole draft (median of 3 prompts, 200 tokens max)\n")
    print("| backend | retrieval s | TTFT s | decode tok/s | tokens | total s |")
    print("|---|---|---|---|---|---|")
    for name, rows in drafts.items():
        med = {k: statistics.median(r[k] for r in rows) for k in rows[0]}
        print(
            f"| {name} | {med['retrieval_s']:.3f} | {med['ttft_s']:.2f} | "
            f"{med['decode_tps']:.1f} | {med['tokens']:.0f} | {med['total_s']:.2f} |"
        )
    print("\n## c. resident memory of a process holding the default model\n")
    print("| backend | loaded MB | after a draft MB | peak MB | vs 928 MB before |")
    print("|---|---|---|---|---|")
    for name, m in rss.items():
        ratio = m["after_draft_mb"] / BEFORE_RSS_MB
        print(
            f"| {name} | {m['loaded_mb']:.0f} | {m['after_draft_mb']:.0f} | "
            f"{m['peak_mb']:.0f} | {ratio:.2f}× |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--new-tokens", type=int, default=200)
    parser.add_argument("--prompt-tokens", type=int, nargs="+", default=[40, 1500])
    parser.add_argument(
        "--threads", type=int, default=0, help="llama.cpp decode threads (0: the backend's default)"
    )
    parser.add_argument(
        "--gguf", type=Path, help="Another GGUF for the llamacpp and plain legs (exploring)."
    )
    parser.add_argument("--speed-only", action="store_true", help="Only part a.")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    results = asyncio.run(speed(args))
    if args.speed_only:
        report(results, {}, {})
        return
    home = Path(tempfile.mkdtemp(prefix="bench-home-"))
    ingest_sample(home)
    drafts = {name: asyncio.run(draft_breakdown(name, home)) for name in ("hf", "llamacpp")}
    rss = {name: memory(name) for name in ("hf", "llamacpp")}
    report(results, drafts, rss)


if __name__ == "__main__":
    main()
