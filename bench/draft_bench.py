"""Drafting on CPU with the default model (SmolLM2-135M-Instruct, the bundled GGUF).

a. Streaming overhead. The `hf` backend's `stream()` against plain `model.generate()` on
   the same loaded model and the same input ids (no streamer, no generator thread):
   greedy, 128 new tokens, at ~30, ~500 and ~1500 prompt tokens; one warm-up, then 3
   repeats, each running both legs back to back. The baseline's time to first token is a
   `generate(max_new_tokens=1)` call; its decode rate is (tokens - 1) / (total - that).
   Target: decode tokens/s of `stream()` ≥ 0.9 × plain `generate()`.
b. One real draft, end to end: `sample/` ingested into a temp TWIN_HOME, then
   `DraftWriter.write` for 3 LinkedIn prompts (drafting.max_new_tokens 200, temperature
   0), broken down into retrieval, prompt building, time to first token and decoding.
c. Memory, each in a fresh process: the model loaded from the dequantized cache plus a
   short generation (target: peak RSS ≤ 1.5 GB); the same with the embedder too (the bot
   holds both); and the first-ever load (GGUF dequantization into an empty cache) against
   the cached one.

    python bench/draft_bench.py [--repeats 3] [--new-tokens 128] [--prompt-tokens 30 500 1500]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from model.generator import Finished, Message
    from model.hf import HfGenerator

SAMPLE = Path(__file__).resolve().parents[1] / "sample"
RSS_TARGET_MB = 1536
RATIO_TARGET = 0.9
DRAFT_PROMPTS = [
    "why we start every project with the smallest model that works",
    "what being on call taught me about writing things down",
    "is SQLite enough for a small team's first warehouse?",
]
SYSTEM = "You write as Sam Rivera: short, concrete, first person."
ASK = "Write a LinkedIn post about shipping the small model first."


def sample_texts() -> list[str]:
    """The sample posts' bodies, front matter stripped."""
    return [
        re.sub(r"\A---\n.*?\n---\n", "", p.read_text(encoding="utf-8"), flags=re.S).strip()
        for p in sorted(SAMPLE.glob("*.md"))
    ]


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def status_mb(key: str) -> float:
    """A line of /proc/self/status (VmRSS: resident now, VmHWM: its high-water mark,
    RssFile: the file-backed part, here mostly the weights mapped from model.safetensors)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{key}:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


# --- c. memory and load time, each leg in its own process ------------------------------


def leg_memory(cache: Path, with_embedder: bool) -> dict[str, float]:
    from model.generator import Finished, GenerationParams, Message

    started = time.perf_counter()
    import torch  # noqa: F401  (import cost is reported apart from the load)
    import transformers  # noqa: F401

    from model.hf import HfGenerator, default_model_source

    imported = time.perf_counter()
    generator = HfGenerator(default_model_source(), cache_dir=cache)
    loaded = time.perf_counter()
    out: dict[str, float] = {
        "import_s": imported - started,
        "load_s": loaded - imported,
        "rss_after_load_mb": status_mb("VmRSS"),
        "peak_after_load_mb": peak_rss_mb(),
    }

    async def go() -> Finished:
        if with_embedder:
            from retrieval.embedder import SentenceTransformerEmbedder, embed_off_loop

            embedder = SentenceTransformerEmbedder(batch_size=16)  # the config default
            paragraphs = [p for text in sample_texts() for p in text.split("\n\n")]
            await embed_off_loop(embedder, paragraphs)
            await embed_off_loop(embedder, ["what I wrote about small models"])
            out["texts_embedded"] = len(paragraphs) + 1
        messages = [Message("system", SYSTEM), Message("user", ASK)]
        params = GenerationParams(max_new_tokens=32, temperature=0.0)
        finished = None
        async for event in generator.stream(messages, params):
            if isinstance(event, Finished):
                finished = event
        await generator.aclose()
        assert finished is not None
        return finished

    finished = asyncio.run(go())
    out |= {
        "generated_tokens": finished.completion_tokens,
        "peak_rss_mb": peak_rss_mb(),
        "hwm_mb": status_mb("VmHWM"),
        "rss_mb": status_mb("VmRSS"),
        "rss_file_mb": status_mb("RssFile"),
    }
    return out


def run_leg(name: str, cache: Path) -> dict[str, float]:
    # The parent has imported nothing heavy yet: ru_maxrss survives exec, so a big
    # parent would show through in its children's figure.
    out = subprocess.run(
        [sys.executable, __file__, "--leg", name, "--cache", str(cache)],
        check=True,
        capture_output=True,
        text=True,
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def memory_table(cold: dict[str, float], cached: dict[str, float], bot: dict[str, float]) -> None:
    print("### c. Memory and load time (each row a fresh process)\n")
    print(
        "| process | import s | load s | RSS after load MB | peak RSS MB | RSS at end MB "
        f"| of which file-backed MB | peak ≤ {RSS_TARGET_MB} MB |"
    )
    print("|---|---|---|---|---|---|---|---|")
    rows = [
        ("first-ever load: dequantize GGUF into an empty cache, 32 tokens", cold),
        ("cached load (dequantized folder), 32 tokens", cached),
        (f"cached load + embedder ({int(bot.get('texts_embedded', 0))} texts), 32 tokens", bot),
    ]
    for name, r in rows:
        ok = "✓" if r["peak_rss_mb"] <= RSS_TARGET_MB else "✗"
        print(
            f"| {name} | {r['import_s']:.1f} | {r['load_s']:.1f} | {r['rss_after_load_mb']:.0f} "
            f"| {r['peak_rss_mb']:.0f} | {r['rss_mb']:.0f} | {r['rss_file_mb']:.0f} | {ok} |"
        )
    print(
        f"\nfirst-ever load / cached load: {cold['load_s'] / cached['load_s']:.1f}× "
        f"({cold['load_s']:.1f} s vs {cached['load_s']:.1f} s); peak RSS is ru_maxrss "
        f"(VmHWM agrees: {cold['hwm_mb']:.0f}, {cached['hwm_mb']:.0f}, {bot['hwm_mb']:.0f} MB)\n"
    )


# --- a. streaming overhead ------------------------------------------------------------


def fit_prompt(generator: HfGenerator, target: int, material: str) -> list[Message]:
    """A system + user prompt of about `target` tokens (the rendered chat template)."""
    from model.generator import Message

    base = [Message("system", SYSTEM), Message("user", ASK)]
    overhead = generator.count_tokens(base)
    if target <= overhead + 8:
        return base
    ids: list[int] = generator.tokenizer(material, add_special_tokens=False)["input_ids"]
    n = target - overhead - 8
    messages = base
    for _ in range(4):
        notes = str(generator.tokenizer.decode(ids[:n]))
        messages = [Message("system", SYSTEM), Message("user", f"{ASK}\n\nMy notes:\n{notes}")]
        missing = target - generator.count_tokens(messages)
        if abs(missing) <= 2:
            break
        n += missing
    return messages


async def ours(
    generator: HfGenerator, messages: list[Message], new_tokens: int
) -> tuple[Finished, float]:
    from model.generator import Finished, GenerationParams

    params = GenerationParams(max_new_tokens=new_tokens, temperature=0.0, repetition_penalty=1.0)
    started = time.perf_counter()
    finished = None
    async for event in generator.stream(messages, params):
        if isinstance(event, Finished):
            finished = event
    assert finished is not None
    return finished, time.perf_counter() - started


def plain(
    generator: HfGenerator, input_ids: list[int], new_tokens: int, eos: list[int]
) -> tuple[float, int, float]:
    """(seconds to the first token, new tokens, seconds in all) of bare `generate()`."""
    import torch

    ids = torch.tensor([input_ids])
    kwargs: dict[str, Any] = {
        "input_ids": ids,
        "attention_mask": torch.ones_like(ids),
        "do_sample": False,
        "temperature": None,
        "top_p": None,
        "top_k": None,
        "repetition_penalty": 1.0,
        "eos_token_id": eos,
        "pad_token_id": eos[0],
    }
    with torch.inference_mode():
        started = time.perf_counter()
        generator.model.generate(max_new_tokens=1, **kwargs)
        first = time.perf_counter() - started
        started = time.perf_counter()
        out = generator.model.generate(max_new_tokens=new_tokens, **kwargs)
        total = time.perf_counter() - started
    return first, int(out.shape[1]) - len(input_ids), total


def eos_ids(generator: HfGenerator) -> list[int]:
    """The same stop ids `HfGenerator` gives generate()."""
    configured = getattr(generator.model.generation_config, "eos_token_id", None)
    ids = configured if isinstance(configured, list) else [configured]
    return sorted({i for i in [generator.tokenizer.eos_token_id, *ids] if isinstance(i, int)})


async def streaming_overhead(
    generator: HfGenerator, lengths: list[int], new_tokens: int, repeats: int
) -> None:
    material = "\n\n".join(sample_texts() * 4)
    eos = eos_ids(generator)
    print(
        f"### a. `hf` stream() vs plain generate(): greedy, max_new_tokens {new_tokens}, "
        f"median of {repeats} after a warm-up\n"
    )
    print(
        "| prompt tokens | new tokens | TTFT plain s | TTFT stream s | decode plain tok/s "
        f"| decode stream tok/s | ratio (≥ {RATIO_TARGET}) | total plain s | total stream s |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for target in lengths:
        messages = fit_prompt(generator, target, material)
        input_ids: list[int] = generator.tokenizer(
            generator.render(messages), add_special_tokens=False
        )["input_ids"]
        await ours(generator, messages, 8)  # warm-up at this length, both paths
        plain(generator, input_ids, 8, eos)
        rows: dict[str, list[float]] = {
            k: [] for k in ("p_ttft", "s_ttft", "p_rate", "s_rate", "p_total", "s_total")
        }
        counts: set[tuple[int, int]] = set()
        for _ in range(repeats):
            finished, wall = await ours(generator, messages, new_tokens)
            first, n, total = plain(generator, input_ids, new_tokens, eos)
            counts.add((n, finished.completion_tokens))
            rows["s_ttft"].append(finished.time_to_first_token)
            rows["s_rate"].append(finished.tokens_per_second)
            rows["s_total"].append(wall)
            rows["p_ttft"].append(first)
            rows["p_rate"].append((n - 1) / (total - first) if n > 1 else float("nan"))
            rows["p_total"].append(total)
        m = {k: median(v) for k, v in rows.items()}
        ratio = m["s_rate"] / m["p_rate"]
        n_plain, n_stream = sorted(counts)[0]
        tokens = str(n_stream) if len(counts) == 1 and n_plain == n_stream else str(counts)
        print(
            f"| {len(input_ids)} | {tokens} | {m['p_ttft']:.3f} | {m['s_ttft']:.3f} "
            f"| {m['p_rate']:.1f} | {m['s_rate']:.1f} | {ratio:.2f} "
            f"{'✓' if ratio >= RATIO_TARGET else '✗'} | {m['p_total']:.2f} | {m['s_total']:.2f} |"
        )
    print()


# --- b. one real draft, end to end ------------------------------------------------------


async def draft_breakdown(generator: HfGenerator, home: Path) -> None:
    from bot.config import load_config
    from bot.twin import Twin
    from model.draft import DraftDone, DraftRequest, Prepared
    from model.generator import TextDelta

    config = load_config(
        {"drafting.max_new_tokens": 200, "drafting.temperature": 0.0}, env={}, home=home
    )
    twin = Twin(config, generator=generator)
    started = time.perf_counter()
    async with twin.ingestor() as ingestor:
        [result] = await ingestor.ingest([str(SAMPLE)], allow_paths=True)
    assert result.ok, result.error
    print(
        f"### b. One draft, end to end: linkedin, max_new_tokens 200, temperature 0, "
        f"k {config.drafting.k}, context_tokens {config.drafting.context_tokens}\n"
    )
    print(
        f"`sample/` ingested first: {result.documents} documents, {result.chunks} chunks in "
        f"{time.perf_counter() - started:.1f} s (embedder load included)\n"
    )
    print(
        "| prompt | retrieval ms | prompt built ms | prompt tokens | TTFT s | new tokens "
        "| tok/s | decode s | total s |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    async with twin.draft_writer() as writer:
        for prompt in DRAFT_PROMPTS:
            t0 = time.perf_counter()
            prepared_at = None
            done = None
            async for event in writer.write(DraftRequest(prompt, format="linkedin")):
                if isinstance(event, Prepared):
                    prepared_at = time.perf_counter()
                elif isinstance(event, DraftDone):
                    done = event
                else:
                    assert isinstance(event, TextDelta)
            assert done is not None and prepared_at is not None
            t = done.draft.timings
            decode = t["total_s"] - (prepared_at - t0) - t["time_to_first_token_s"]
            print(
                f"| {prompt} | {t['retrieval_ms']:.0f} | {(prepared_at - t0) * 1000:.0f} "
                f"| {t['prompt_tokens']:.0f} | {t['time_to_first_token_s']:.2f} "
                f"| {t['completion_tokens']:.0f} | {t['tokens_per_second']:.1f} | {decode:.1f} "
                f"| {t['total_s']:.1f} |"
            )
    await twin.aclose()
    print(
        "\n(prompt built = request to `Prepared`: retrieval, packing, token counting; "
        "decode = total − prompt built − TTFT)\n"
    )


async def in_process(args: argparse.Namespace, cache: Path, home: Path) -> None:
    from model.hf import HfGenerator, default_model_source

    generator = HfGenerator(default_model_source(), cache_dir=cache)
    import torch

    print(
        f"model {generator.model_id}, {generator.model.dtype}, {os.cpu_count()} cores, "
        f"torch {torch.__version__} with {torch.get_num_threads()} threads\n"
    )
    try:
        await streaming_overhead(generator, args.prompt_tokens, args.new_tokens, args.repeats)
        await draft_breakdown(generator, home)
    finally:
        await generator.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--new-tokens", type=int, default=128)
    parser.add_argument("--prompt-tokens", type=int, nargs="+", default=[30, 500, 1500])
    parser.add_argument("--leg", choices=["memory", "memory-embedder"], help=argparse.SUPPRESS)
    parser.add_argument("--cache", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.leg:
        print(json.dumps(leg_memory(args.cache, with_embedder=args.leg == "memory-embedder")))
        return
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp) / "models"
        cold = run_leg("memory", cache)  # the cache is empty: dequantizes the GGUF
        cached = run_leg("memory", cache)
        bot = run_leg("memory-embedder", cache)
        asyncio.run(in_process(args, cache, Path(tmp) / "home"))
    memory_table(cold, cached, bot)
    print(f"whole run: {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
