"""`llm-twin quantize`: a trained run's adapter merged into its base, then EXL2 on CUDA.

The merged HF folder is made on any machine and is what the `hf` backend (or an
OpenAI-compatible server) can serve without peft. The EXL2 build needs CUDA: without it
this says so and stops after the merge. The converter's measurement pass is saved beside
the merged model and reused for every later bitrate of the same run.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from training.context import TrainingContext
from training.dataset import read_split
from training.export import merge_adapter
from training.quantize import cuda_missing_reason, quantize_exl2, write_calibration
from training.registry import Run
from training.run import run_folder

Report = Callable[[str], None]


def quantize_run(
    context: TrainingContext, run: Run, report: Report, bits: float | None = None
) -> Run:
    adapter = run.trained_adapter("exported")
    folder = run_folder(context.home, run.id)
    t = context.settings
    bits = t.quantize_bits if bits is None else bits
    report(f"merging {run.id}'s adapter into {run.base_model}")
    merged = merge_adapter(Path(run.base_model), adapter, folder / "merged")
    context.registry.add_paths(run.id, merged=str(merged))
    report(f"merged model: {merged}")
    reason = cuda_missing_reason()
    if reason is not None:
        report(f"not quantized: {reason}")
        return context.registry.require(run.id)
    texts = [e.answer for e in read_split(Path(run.dataset_folder), "train")]
    calibration = write_calibration(texts, folder / "calibration.parquet", rows=100, length=2048)
    result = quantize_exl2(
        merged,
        folder / f"exl2-{bits:g}bpw",
        bits=bits,
        head_bits=t.quantize_head_bits,
        work_dir=folder / "exl2-work",
        calibration=calibration,
        progress=lambda line: report(f"  {line}"),
    )
    context.registry.add_paths(run.id, exl2=str(result.out_dir))
    context.registry.add_metrics(
        run.id,
        {
            "exl2": {
                "bits": bits,
                "head_bits": t.quantize_head_bits,
                "seconds": round(result.seconds, 1),
                "size_bytes": result.size_bytes,
                "measured": result.measured,
            }
        },
    )
    report(
        f"EXL2 {bits:g} bpw: {result.out_dir} ({result.size_bytes / 2**20:.0f} MiB, "
        f"{result.seconds:.0f} s{', measured' if result.measured else ', measurement reused'})"
    )
    return context.registry.require(run.id)
