"""DPO, the optional second stage: the SFT adapter nudged towards what the owner chose.

Training goes on from the SFT adapter (the policy) while a frozen copy of it is the
reference, so DPO moves the twin relative to what SFT taught it, not back to the base.
Pairs come from training/preferences.py in TRL's conversational format.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from training.device import resolve_device, set_threads
from training.lora import (
    CardInfo,
    ProgressCallback,
    Stage,
    StageResult,
    last_checkpoint,
    load_base,
    load_tokenizer,
    progress_callback,
    quiet_libraries,
    run_stage,
    trainer_args,
    without_printer,
)
from training.settings import TrainingSettings

ADAPTER = "adapter-dpo"


def train_dpo(
    base: str,
    sft_adapter: Path,
    pairs: Any,
    run_dir: Path,
    settings: TrainingSettings,
    info: CardInfo,
    progress: ProgressCallback | None = None,
) -> StageResult:
    """`pairs`: a `datasets.Dataset` of prompt/chosen/rejected message lists. The adapter
    lands in run_dir/adapter-dpo; checkpoints under run_dir/dpo (resumed from)."""
    from peft import PeftModel
    from trl import DPOConfig, DPOTrainer

    quiet_libraries()
    device = resolve_device(settings)
    set_threads(settings)
    tokenizer = load_tokenizer(base)
    model = PeftModel.from_pretrained(
        load_base(base, settings, device), str(sft_adapter), is_trainable=True
    )
    output = run_dir / "dpo"
    resume = last_checkpoint(output)
    report = progress_callback("dpo", progress)
    config = DPOConfig(
        **trainer_args(settings, device, output),
        num_train_epochs=settings.dpo_epochs,
        learning_rate=settings.dpo_learning_rate,
        beta=settings.dpo_beta,
    )
    trainer = without_printer(
        DPOTrainer(
            model=model,
            args=config,
            train_dataset=pairs,
            processing_class=tokenizer,
            callbacks=[report],
        )
    )
    stage = Stage("dpo", trainer, tokenizer, report, device, resume, run_dir / ADAPTER)
    return run_stage(stage, settings, info)
