"""LoRA SFT on CPU with the default model (SmolLM2-135M-Instruct, the bundled GGUF).

The product's own training path, `training.sft.train_sft` (TRL's SFTTrainer over a peft
LoRA, completion-only loss), on the base the bot drafts with: the bundled GGUF
dequantized to a float32 HF folder (`model.gguf.dequantized_folder`). The data: the
`sample/` posts through `training.dataset.build_examples` (template instructions,
answers cut on paragraph boundaries to at most 200 tokens) written as train.jsonl.

Each configuration runs in its own process, since ru_maxrss never goes down: a warm-up
`train_sft` of `--warmup` steps in one run folder (one-off costs: lazy torch init, thread
pools, first allocations), then the measured `train_sft` of `--steps` steps in another.
Per configuration:
- tokens/s: `StageResult.tokens_per_s` of the measured run, the non-padding tokens the
  trainer saw (TRL's `num_tokens`, from the attention mask) over `trainer.train()`'s wall
  time; the data order is seeded, so every configuration sees the same tokens;
- s/step: that wall time over the steps; CPU s/step: the process's CPU time between the
  first and the last step's `Progress` report over the steps between (no first step, no
  end-of-run checkpoint). "speed (wall)" is the tokens/s ratio to the baseline, "speed
  (CPU)" the baseline's CPU s/step over the configuration's: when other jobs take our
  core away, wall time stretches and CPU time does not (it still does when they only
  share the caches and memory bandwidth). "others' load" is the busy cores that were not
  ours during the leg (/proc/stat): compare legs that ran under the same load;
- peak RSS: `StageResult.peak_memory_bytes` (ru_maxrss of the process; VmHWM printed too);
- adapter: the saved adapter_model.safetensors, its size and parameter count.

Baseline: gradient checkpointing off, LoRA rank 16 (alpha 32) on q/k/v/o, batch 2,
grad_accum 1, max_seq_len 256. Compared with it in the same run: gradient checkpointing
on, and LoRA rank 64 (alpha 128). Threads: the product's default (`training.threads` 0:
all cores but one) unless `--threads`.

    python bench/train_bench.py [--steps 8] [--warmup 2] [--threads 0] [--cache DIR]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SAMPLE = Path(__file__).resolve().parents[1] / "sample"
MAX_ANSWER_TOKENS = 200
BATCH_SIZE = 2
MAX_SEQ_LEN = 256


@dataclass(frozen=True)
class Config:
    name: str
    label: str
    gradient_checkpointing: bool
    lora_rank: int


CONFIGS = {
    c.name: c
    for c in [
        Config("baseline", "baseline: checkpointing off, rank 16", False, 16),
        Config("checkpointing", "gradient checkpointing on, rank 16", True, 16),
        Config("rank64", "checkpointing off, rank 64", False, 64),
    ]
}


def status_mb(key: str) -> float:
    """A line of /proc/self/status in MB (VmRSS: resident now; VmHWM: its high-water mark)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{key}:"):
            return int(line.split()[1]) / 1024
    return float("nan")


# --- child processes ----------------------------------------------------------------------


def prepare(cache: Path, work: Path) -> dict[str, Any]:
    """The dequantized base folder and a dataset folder with train.jsonl."""
    import asyncio

    from transformers import AutoTokenizer

    from ingest.extractors.local import extract_path
    from model.gguf import dequantized_folder
    from model.hf import default_model_source
    from training.dataset import build_examples
    from training.settings import TrainingSettings

    source = default_model_source()
    assert source.gguf_file is not None
    started = time.perf_counter()
    base = dequantized_folder(source.location, source.gguf_file, cache)
    base_s = time.perf_counter() - started
    tokenizer: Any = AutoTokenizer.from_pretrained(str(base))

    def count(text: str) -> int:
        return len(tokenizer(text, add_special_tokens=False)["input_ids"])

    settings = TrainingSettings(
        test_fraction=0.0, min_documents=1, max_answer_tokens=MAX_ANSWER_TOKENS
    )
    documents = extract_path(SAMPLE)
    train, test, _ = asyncio.run(build_examples(documents, settings, ("*",), count))
    examples = [*train, *test]
    dataset = work / "dataset"
    dataset.mkdir(parents=True, exist_ok=True)
    with (dataset / "train.jsonl").open("w", encoding="utf-8") as out:
        for e in examples:
            out.write(json.dumps({"instruction": e.instruction, "answer": e.answer}) + "\n")
    answer_tokens = [count(e.answer) for e in examples]
    return {
        "base": str(base),
        "base_s": base_s,
        "dataset": str(dataset),
        "examples": len(examples),
        "answer_tokens_min": min(answer_tokens),
        "answer_tokens_max": max(answer_tokens),
    }


def adapter_size(adapter: Path) -> tuple[int, int]:
    """(bytes, parameters) of the saved LoRA weights."""
    from safetensors import safe_open

    path = adapter / "adapter_model.safetensors"
    with safe_open(str(path), framework="pt") as weights:
        names = weights.keys()  # a safetensors handle: not iterable itself
        params = sum(math.prod(weights.get_slice(name).get_shape()) for name in names)
    return path.stat().st_size, params


def one(config: Config, args: argparse.Namespace) -> dict[str, Any]:
    """Warm up, then train `args.steps` steps of `config`; the figures as a dict."""
    import gc

    import torch

    from training.lora import CardInfo, Progress
    from training.settings import TrainingSettings
    from training.sft import train_sft

    rss_imported = status_mb("VmRSS")
    info = CardInfo(run_id=f"bench-{config.name}", base_model=args.base, dataset_hash="bench")

    def settings(steps: int) -> TrainingSettings:
        return TrainingSettings(
            lora_rank=config.lora_rank,
            lora_alpha=2 * config.lora_rank,
            batch_size=BATCH_SIZE,
            grad_accum=1,
            max_seq_len=MAX_SEQ_LEN,
            gradient_checkpointing=config.gradient_checkpointing,
            max_steps=steps,
            save_steps=1000,  # no checkpoint inside the measured steps
            threads=args.threads,
            device="cpu",
        )

    work = Path(args.work) / config.name
    dataset = Path(args.dataset)
    if args.warmup > 0:
        train_sft(args.base, dataset, work / "warmup", settings(args.warmup), info)
        gc.collect()
    rss_warm = status_mb("VmRSS")
    reports: list[tuple[float, float, Progress]] = []  # wall clock, CPU time, report
    result = train_sft(
        args.base,
        dataset,
        work / "run",
        settings(args.steps),
        info,
        progress=lambda p: reports.append((time.perf_counter(), time.process_time(), p)),
    )
    size, params = adapter_size(result.adapter_dir)
    between = reports[-1][2].step - reports[0][2].step if reports else 0
    steady = (reports[-1][0] - reports[0][0]) / between if between else float("nan")
    steady_cpu = (reports[-1][1] - reports[0][1]) / between if between else float("nan")
    return {
        "config": config.name,
        "threads": torch.get_num_threads(),
        "steps": result.steps,
        "tokens": result.tokens,
        "seconds": result.seconds,
        "tokens_per_s": result.tokens_per_s,
        "s_per_step": result.seconds / result.steps if result.steps else float("nan"),
        "steady_s_per_step": steady,
        "steady_cpu_s_per_step": steady_cpu,
        "progress_tokens_per_s": reports[-1][2].tokens_per_s if reports else float("nan"),
        "first_loss": result.losses[0] if result.losses else float("nan"),
        "last_loss": result.losses[-1] if result.losses else float("nan"),
        "peak_rss_mb": result.peak_memory_bytes / 2**20,
        "hwm_mb": status_mb("VmHWM"),
        "rss_imported_mb": rss_imported,
        "rss_after_warmup_mb": rss_warm,
        "adapter_bytes": size,
        "adapter_params": params,
    }


# --- the parent ---------------------------------------------------------------------------


def busy_s() -> float:
    """CPU seconds the whole machine has spent busy since boot (/proc/stat)."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def child(argv: list[str]) -> dict[str, Any]:
    """Run this script with `argv`; its JSON, plus the CPU the rest of the machine used
    meanwhile (`others_cores`: busy CPU seconds not the child's, per second)."""
    # The parent imports nothing heavy: ru_maxrss survives exec, so a big parent would
    # show through in its children's figure.
    wall, busy, own = time.perf_counter(), busy_s(), os.times()
    out = subprocess.run(
        [sys.executable, __file__, *argv], capture_output=True, text=True, check=False
    )
    if out.returncode != 0:
        sys.exit(f"train_bench: {' '.join(argv[:2])} failed:\n{out.stderr[-4000:]}")
    now = os.times()
    child_cpu = now.children_user + now.children_system - own.children_user - own.children_system
    seconds = time.perf_counter() - wall
    result = dict(json.loads(out.stdout.strip().splitlines()[-1]))
    result["leg_s"] = seconds
    result["others_cores"] = max(0.0, (busy_s() - busy - child_cpu) / seconds)
    return result


def table(rows: list[tuple[Config, dict[str, Any]]]) -> str:
    base = rows[0][1]
    head = [
        "configuration",
        "tokens/s",
        "s/step",
        "CPU s/step",
        "speed (wall)",
        "speed (CPU)",
        "peak RSS",
        "peak RSS ratio",
        "adapter",
        "others' load",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for config, r in rows:
        cells = [
            config.label,
            f"{r['tokens_per_s']:.0f}",
            f"{r['s_per_step']:.2f}",
            f"{r['steady_cpu_s_per_step']:.2f}",
            f"{r['tokens_per_s'] / base['tokens_per_s']:.2f}×",
            f"{base['steady_cpu_s_per_step'] / r['steady_cpu_s_per_step']:.2f}×",
            f"{r['peak_rss_mb']:,.0f} MB",
            f"{r['peak_rss_mb'] / base['peak_rss_mb']:.2f}×",
            f"{r['adapter_bytes'] / 2**20:.1f} MB, {r['adapter_params'] / 1e6:.2f} M params",
            f"{r['others_cores']:.2f} cores",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def run(args: argparse.Namespace, work: Path, cache: Path) -> None:
    started = time.perf_counter()
    load_before = os.getloadavg()
    data = child(["--prepare", "--cache", str(cache), "--work", str(work)])
    print(
        f"base: {data['base']} ({data['base_s']:.1f} s); {data['examples']} examples from "
        f"sample/, answers {data['answer_tokens_min']}–{data['answer_tokens_max']} tokens",
        flush=True,
    )
    common = ["--base", data["base"], "--dataset", data["dataset"], "--work", str(work)]
    common += ["--steps", str(args.steps), "--warmup", str(args.warmup)]
    common += ["--threads", str(args.threads)]
    rows: list[tuple[Config, dict[str, Any]]] = []
    for config in CONFIGS.values():
        result = child(["--one", config.name, *common])
        rows.append((config, result))
        print(
            f"{config.name}: {result['tokens_per_s']:.0f} tokens/s, "
            f"{result['s_per_step']:.2f} s/step ({result['steady_cpu_s_per_step']:.2f} CPU s), "
            f"peak {result['peak_rss_mb']:,.0f} MB (VmHWM {result['hwm_mb']:,.0f}, after "
            f"imports {result['rss_imported_mb']:,.0f}), loss {result['first_loss']:.2f} → "
            f"{result['last_loss']:.2f}; {result['leg_s']:.0f} s with load and warm-up, "
            f"others used {result['others_cores']:.2f} cores",
            flush=True,
        )
    load_after = os.getloadavg()
    print()
    print(json.dumps({c.name: r for c, r in rows}, indent=2))
    print()
    first = rows[0][1]
    print(
        f"### LoRA SFT on CPU ({time.strftime('%Y-%m-%d')}, `python bench/train_bench.py "
        f"--steps {args.steps} --warmup {args.warmup}`)\n"
    )
    print(
        f"SmolLM2-135M-Instruct float32, {data['examples']} sample examples (answers ≤ "
        f"{MAX_ANSWER_TOKENS} tokens), batch {BATCH_SIZE}, grad_accum 1, max_seq_len "
        f"{MAX_SEQ_LEN}, {first['threads']} torch thread(s), {args.steps} measured steps after "
        f"{args.warmup} warm-up steps, {first['tokens']:,} non-padding tokens per "
        f"configuration. Load average (1 min) {load_before[0]:.2f} before, "
        f"{load_after[0]:.2f} after. Speed and peak RSS ratios are against the baseline "
        "(first row); speed (CPU) compares CPU s/step, which other jobs taking our core do "
        "not stretch; others' load is the busy cores not ours during each leg.\n"
    )
    print(table(rows))
    print(f"\nwhole run: {time.perf_counter() - started:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=8, help="measured steps")
    parser.add_argument("--warmup", type=int, default=2, help="steps of the warm-up run")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: cores - 1)")
    parser.add_argument(
        "--cache", type=Path, help="dequantized models ($TWIN_HOME/models, else a temp dir)"
    )
    parser.add_argument("--prepare", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--one", choices=sorted(CONFIGS), help=argparse.SUPPRESS)
    parser.add_argument("--work", help=argparse.SUPPRESS)
    parser.add_argument("--base", help=argparse.SUPPRESS)
    parser.add_argument("--dataset", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.steps < 2 or args.warmup < 0:
        parser.error("--steps must be at least 2 and --warmup at least 0")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing is downloaded, ever
    if args.prepare:
        print(json.dumps(prepare(args.cache, Path(args.work))))
        return
    if args.one:
        print(json.dumps(one(CONFIGS[args.one], args)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        cache = args.cache
        if cache is None and os.environ.get("TWIN_HOME"):
            cache = Path(os.environ["TWIN_HOME"]) / "models"
        run(args, Path(tmp), cache or Path(tmp) / "models")


if __name__ == "__main__":
    main()
