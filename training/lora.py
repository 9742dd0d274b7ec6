"""What LoRA SFT and DPO share: settings, the base model, progress, adapters on disk.

Both stages run TRL's trainers over a peft LoRA on the base model's own chat template.
Checkpoints go under the run folder every `save_steps`, and a stage that finds one there
resumes from it. The finished adapter is written aside and renamed into place with its
card (model/adapter_card.py), so a crash never leaves an adapter that looks complete.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from core.errors import ConfigError, TrainingError
from core.offline import stay_offline
from model.adapter_card import AdapterCard, base_fingerprint
from training.device import peak_memory
from training.settings import TrainingSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Progress:
    """One step of a stage: what the bot shows in chat and the CLI as a bar."""

    stage: str
    step: int
    total: int
    loss: float | None
    tokens_per_s: float
    eta_s: float

    def line(self) -> str:
        loss = f", loss {self.loss:.3f}" if self.loss is not None else ""
        eta = f", {_duration(self.eta_s)} left" if self.step < self.total else ""
        return f"{self.stage}: step {self.step}/{self.total}{loss}{eta}"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


ProgressCallback = Callable[[Progress], None]


@dataclass(frozen=True)
class StageResult:
    stage: str
    adapter_dir: Path
    steps: int
    losses: tuple[float, ...]
    tokens: int
    seconds: float
    peak_memory_bytes: int
    resumed_from: str | None = None

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.seconds if self.seconds > 0 else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "adapter_dir": str(self.adapter_dir),
            "steps": self.steps,
            "first_loss": self.losses[0] if self.losses else None,
            "last_loss": self.losses[-1] if self.losses else None,
            "tokens": self.tokens,
            "seconds": round(self.seconds, 2),
            "tokens_per_s": round(self.tokens_per_s, 1),
            "peak_memory_bytes": self.peak_memory_bytes,
            "resumed_from": self.resumed_from,
        }


@dataclass(frozen=True)
class CardInfo:
    """What the adapter card records about the run besides the settings."""

    run_id: str
    base_model: str
    dataset_hash: str


def quiet_libraries() -> None:
    """Our own progress replaces the libraries' bars and log dicts on stdout."""
    from datasets.utils.logging import disable_progress_bar
    from transformers.utils import logging as hf_logging

    disable_progress_bar()
    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]


def without_printer(trainer: Any) -> Any:
    """The trainer minus the callback that prints every log dict (with tqdm off)."""
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    trainer.remove_callback(PrinterCallback)
    trainer.remove_callback(ProgressCallback)
    return trainer


def load_tokenizer(base: str) -> Any:
    """The base model's tokenizer; it must have a chat template (it shapes every example)."""
    stay_offline()
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(base)
    except Exception as exc:
        raise ConfigError(
            f"cannot load the base model {base}: {type(exc).__name__}: {_first_line(exc)}; set "
            "training.base_model to a local HF folder, a .gguf file or a cached hub id"
        ) from exc
    if not getattr(tokenizer, "chat_template", None):
        raise ConfigError(
            f"the base model {base} has no chat template, so instructions and answers cannot "
            "be laid out the way it will be prompted; use an instruct/chat model"
        )
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_base(base: str, settings: TrainingSettings, device: str) -> Any:
    """The base weights: float32 on CPU, bfloat16 on CUDA, 4-bit with `qlora` (CUDA only)."""
    stay_offline()
    import torch
    from transformers import AutoModelForCausalLM

    kwargs: dict[str, Any] = {"dtype": torch.float32}
    if device.startswith("cuda"):
        kwargs["dtype"] = torch.bfloat16
    if settings.qlora:
        if not device.startswith("cuda"):
            raise ConfigError(
                "training.qlora loads the base in 4 bits with bitsandbytes, which needs CUDA; "
                "set training.qlora = false to train on CPU"
            )
        try:
            from transformers import BitsAndBytesConfig
        except ImportError as exc:  # pragma: no cover - CUDA machines only
            raise ConfigError("training.qlora needs pip install 'llm-twin[qlora]'") from exc
        kwargs["quantization_config"] = BitsAndBytesConfig(  # type: ignore[no-untyped-call]
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_compute_dtype=torch.bfloat16,
            bnb_4bit_use_double_quant=True,
        )
        kwargs["device_map"] = {"": device}
    try:
        model = AutoModelForCausalLM.from_pretrained(base, **kwargs)
    except Exception as exc:
        raise ConfigError(
            f"cannot load the base model {base}: {type(exc).__name__}: {_first_line(exc)}"
        ) from exc
    if settings.qlora:
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(  # type: ignore[no-untyped-call]
            model, use_gradient_checkpointing=settings.gradient_checkpointing
        )
    return model


def lora_config(settings: TrainingSettings) -> Any:
    from peft import LoraConfig

    return LoraConfig(
        r=settings.lora_rank,
        lora_alpha=settings.lora_alpha,
        lora_dropout=settings.lora_dropout,
        target_modules=list(settings.target_modules) or "all-linear",
        task_type="CAUSAL_LM",
    )


def trainer_args(settings: TrainingSettings, device: str, output_dir: Path) -> dict[str, Any]:
    """The TrainingArguments both stages share."""
    import dataclasses

    from transformers import TrainingArguments

    cuda = device.startswith("cuda")
    # transformers 5.2x renamed gradient checkpointing (the old name warns until v6)
    names = {f.name for f in dataclasses.fields(TrainingArguments)}
    checkpointing = (
        "activation_checkpointing"
        if "activation_checkpointing" in names
        else "gradient_checkpointing"
    )
    return {
        "output_dir": str(output_dir),
        "per_device_train_batch_size": settings.batch_size,
        "gradient_accumulation_steps": settings.grad_accum,
        "max_steps": settings.max_steps if settings.max_steps > 0 else -1,
        "logging_steps": 1,
        "save_strategy": "steps",
        "save_steps": settings.save_steps,
        "save_total_limit": 2,
        "report_to": [],
        "disable_tqdm": True,
        "seed": settings.seed,
        "use_cpu": not cuda,
        "bf16": cuda,
        f"{checkpointing}": settings.gradient_checkpointing,
        f"{checkpointing}_kwargs": {"use_reentrant": False},
        "lr_scheduler_type": "cosine",
        "warmup_steps": 0.03,  # below 1: a share of the steps
        "max_length": settings.max_seq_len,
        "dataloader_num_workers": 0,
    }


def last_checkpoint(output_dir: Path) -> str | None:
    """The newest *complete* checkpoint under `output_dir`. The trainer writes
    trainer_state.json last, so a checkpoint without a readable one was cut short (the
    process was killed while saving) and the one before it is taken instead."""
    if not output_dir.is_dir():
        return None
    steps = []
    for folder in output_dir.glob("checkpoint-*"):
        number = folder.name.removeprefix("checkpoint-")
        if folder.is_dir() and number.isdigit():
            steps.append((int(number), folder))
    for _, folder in sorted(steps, reverse=True):
        try:
            json.loads((folder / "trainer_state.json").read_text())
        except (OSError, ValueError):
            log.warning("skipping the incomplete checkpoint %s", folder)
            continue
        return str(folder)
    return None


def progress_callback(stage: str, report: ProgressCallback | None) -> Any:
    """A transformers TrainerCallback turning the trainer's logs into `Progress`."""
    from transformers import TrainerCallback

    class _Report(TrainerCallback):
        def __init__(self) -> None:
            self.started = time.perf_counter()
            self.first_step = 0
            self.losses: list[float] = []
            self.tokens = 0
            self.first_tokens = 0

        def on_train_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            self.started = time.perf_counter()
            self.first_step = state.global_step
            self.first_tokens = int(getattr(state, "num_input_tokens_seen", 0) or 0)

        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kw: Any) -> None:
            logs = logs or {}
            if "loss" not in logs:
                return
            loss = float(logs["loss"])
            self.losses.append(loss)
            if "num_tokens" in logs:
                self.tokens = int(float(logs["num_tokens"]))
            elapsed = time.perf_counter() - self.started
            done = state.global_step - self.first_step
            total = state.max_steps
            per_step = elapsed / done if done else 0.0
            tokens = self.tokens - self.first_tokens
            if report is not None:
                report(
                    Progress(
                        stage,
                        state.global_step,
                        total,
                        loss,
                        tokens / elapsed if elapsed > 0 else 0.0,
                        per_step * (total - state.global_step),
                    )
                )

    return _Report()


@contextmanager
def out_of_memory_explained(settings: TrainingSettings, stage: str) -> Iterator[None]:
    """Turn an out-of-memory crash into the three things that fix it."""
    try:
        yield
    except (RuntimeError, MemoryError) as exc:
        text = str(exc).lower()
        if isinstance(exc, MemoryError) or "out of memory" in text or "can't allocate" in text:
            raise TrainingError(
                f"out of memory during {stage} at training.batch_size={settings.batch_size}, "
                f"training.max_seq_len={settings.max_seq_len}: lower batch_size (raise "
                "grad_accum to keep the same step), lower max_seq_len, or set "
                "training.qlora = true on a CUDA machine"
            ) from exc
        raise


@dataclass(frozen=True)
class Stage:
    """One stage's trainer, ready to run: what `run_stage` needs besides the settings."""

    name: str  # "sft" or "dpo"
    trainer: Any
    tokenizer: Any
    report: Any  # the `progress_callback` the trainer holds
    device: str
    resume: str | None
    target: Path  # where the finished adapter goes


def run_stage(stage: Stage, settings: TrainingSettings, info: CardInfo) -> StageResult:
    """Train (from the checkpoint, if any), then save the adapter with its card."""
    started = time.perf_counter()
    with out_of_memory_explained(settings, stage.name.upper()):
        stage.trainer.train(resume_from_checkpoint=stage.resume)
    seconds = time.perf_counter() - started
    model = stage.trainer.model
    card = make_card(info, model, settings, stage.name)
    adapter = save_adapter(model, stage.tokenizer, stage.target, card)
    return StageResult(
        stage=stage.name,
        adapter_dir=adapter,
        steps=stage.trainer.state.global_step,
        losses=tuple(stage.report.losses),
        tokens=stage.report.tokens - stage.report.first_tokens,
        seconds=seconds,
        peak_memory_bytes=peak_memory(stage.device),
        resumed_from=stage.resume,
    )


def save_adapter(model: Any, tokenizer: Any, target: Path, card: AdapterCard) -> Path:
    """The trained adapter (only the "default" one) with its card, complete or absent."""
    partial = target.with_name(f".{target.name}.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    model.save_pretrained(str(partial), selected_adapters=["default"])
    tokenizer.save_pretrained(str(partial))
    card.save(partial)
    if target.exists():
        shutil.rmtree(target)
    partial.rename(target)
    return target


def make_card(info: CardInfo, model: Any, settings: TrainingSettings, stage: str) -> AdapterCard:
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return AdapterCard(
        run_id=info.run_id,
        base_model=info.base_model,
        base_fingerprint=base_fingerprint(base.config),
        dataset_hash=info.dataset_hash,
        training=settings.to_json(),
        stage=stage,
    )


def _first_line(exc: BaseException) -> str:
    text = str(exc)
    return text.splitlines()[0] if text else ""


def _duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    if seconds >= 60:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds}s"
