"""Supervised fine-tuning: LoRA on the owner's (instruction, answer) pairs with TRL.

Each example is laid out with the base model's chat template as a prompt (the
instruction) and a completion (the owner's text), and the loss counts the completion
only: the model learns to write like the owner, not to echo requests.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from core.errors import InputError
from training.device import resolve_device, set_threads
from training.lora import (
    CardInfo,
    ProgressCallback,
    Stage,
    StageResult,
    last_checkpoint,
    load_base,
    load_tokenizer,
    lora_config,
    progress_callback,
    quiet_libraries,
    run_stage,
    trainer_args,
    without_printer,
)
from training.settings import TrainingSettings

ADAPTER = "adapter"


def load_sft_rows(dataset_folder: Path, split: str = "train") -> list[dict[str, Any]]:
    """`split`.jsonl as TRL's conversational prompt/completion rows."""
    path = dataset_folder / f"{split}.jsonl"
    if not path.is_file():
        raise InputError(
            str(dataset_folder), f"no {split}.jsonl here; run `llm-twin dataset build` first"
        )
    rows = []
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                example = json.loads(line)
                instruction, answer = example["instruction"], example["answer"]
            except (ValueError, KeyError) as exc:
                raise InputError(
                    f"{path}:{number}", f"not an example line ({exc}); rebuild the dataset"
                ) from exc
            rows.append(
                {
                    "prompt": [{"role": "user", "content": instruction}],
                    "completion": [{"role": "assistant", "content": answer}],
                }
            )
    if not rows:
        raise InputError(str(path), "no examples to train on; add more of your writing and rebuild")
    return rows


def train_sft(
    base: str,
    dataset_folder: Path,
    run_dir: Path,
    settings: TrainingSettings,
    info: CardInfo,
    progress: ProgressCallback | None = None,
) -> StageResult:
    """Train a LoRA adapter on `dataset_folder`'s train split; resume from the last
    checkpoint under `run_dir` if one is there. The adapter lands in run_dir/adapter."""
    return run_stage(sft_stage(base, dataset_folder, run_dir, settings, progress), settings, info)


def sft_stage(
    base: str,
    dataset_folder: Path,
    run_dir: Path,
    settings: TrainingSettings,
    progress: ProgressCallback | None = None,
) -> Stage:
    """The SFT trainer set up (dataset tokenized, prompt tokens masked), not yet run."""
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    rows = load_sft_rows(dataset_folder)
    quiet_libraries()
    device = resolve_device(settings)
    set_threads(settings)
    tokenizer = load_tokenizer(base)
    model = load_base(base, settings, device)
    output = run_dir / "sft"
    resume = last_checkpoint(output)
    report = progress_callback("sft", progress)
    config = SFTConfig(
        **trainer_args(settings, device, output),
        num_train_epochs=settings.epochs,
        learning_rate=settings.learning_rate,
        completion_only_loss=True,
    )
    trainer = without_printer(
        SFTTrainer(
            model=model,
            args=config,
            train_dataset=Dataset.from_list(rows),
            processing_class=tokenizer,
            peft_config=lora_config(settings),
            callbacks=[report],
        )
    )
    return Stage("sft", trainer, tokenizer, report, device, resume, run_dir / ADAPTER)
