"""The [training] config section: the dataset, LoRA SFT and DPO, evaluation, promotion
and EXL2 quantization, in one dataclass that every step of a run takes as it is.

Each field is one key of `config.toml` (where it is documented for the owner); a test keeps
the two in step. A run saves these settings beside its adapter (`to_json`), and a resumed
run reads them back (`from_json`), so it goes on with the settings it started with.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from core.settings import require

PROMOTE_METRICS = ("auto", "perplexity", "style", "voice")


@dataclass(frozen=True)
class TrainingSettings:
    # How dataset instructions are written: "template" or "model".
    instructions: str = "template"
    # Share of documents held out for evaluation (split by document).
    test_fraction: float = 0.1
    # Texts shorter than this many words are left out.
    min_answer_words: int = 30
    # Longer documents become several examples of at most this many tokens.
    max_answer_tokens: int = 512
    # Fewer usable documents than this and the dataset build refuses.
    min_documents: int = 5
    # Salts the train/test split hash: change it to draw another split.
    split_seed: str = "llm-twin"
    # The base model fine-tuned. Empty: the generation model.
    base_model: str = ""
    # LoRA rank, scaling alpha, dropout, and the modules adapted (empty: every linear layer).
    lora_rank: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    target_modules: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj")
    # Passes over the training split, or a fixed number of steps when max_steps > 0.
    epochs: float = 3.0
    max_steps: int = 0
    # Examples per step = batch_size x grad_accum.
    batch_size: int = 4
    grad_accum: int = 4
    learning_rate: float = 2e-4
    # Tokens per example; longer ones are cut.
    max_seq_len: int = 1024
    # Recompute activations in the backward pass (less memory, more time).
    gradient_checkpointing: bool = True
    # Load the base in 4 bits (QLoRA), CUDA only.
    qlora: bool = False
    # A checkpoint every this many steps.
    save_steps: int = 50
    # torch threads (0: all cores but one).
    threads: int = 0
    # The seed of the trainer and of evaluation's sampling.
    seed: int = 0
    # "cpu", "cuda" or "auto" (cuda when one is visible).
    device: str = "auto"
    # DPO: preference strength, learning rate and passes over the pairs.
    dpo_beta: float = 0.1
    dpo_learning_rate: float = 5e-6
    dpo_epochs: float = 1.0
    # Fewer rated drafts than min_preference_pairs: top up with up to synthetic_pairs pairs
    # of the owner's text against the base model's answer.
    min_preference_pairs: int = 8
    synthetic_pairs: int = 32
    # 👍 x 👎 pairs kept per prompt.
    pairs_per_prompt: int = 4
    # Evaluation: drafts per model, side-by-side samples shown, their length.
    eval_drafts: int = 8
    eval_samples: int = 3
    eval_max_new_tokens: int = 200
    # What a new model must beat the active one on, beyond noise (training/promotion.py):
    # "perplexity", "style", "voice" (share of drafts attributed to the owner) or "auto"
    # (voice with at least 20 of the owner's documents in the dataset, else perplexity).
    promote_metric: str = "auto"
    # Perplexity must improve by more than this share (0.01: 1 %) to promote.
    promote_margin: float = 0.01
    # EXL2 quantization: bits per weight and for the output head.
    quantize_bits: float = 4.0
    quantize_head_bits: int = 6

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "target_modules": list(self.target_modules)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TrainingSettings:
        """The settings `to_json` wrote (a run's, when it is resumed). Keys a run made by
        an older release lacks take their defaults; keys no longer known are dropped."""
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        if "target_modules" in values:
            values["target_modules"] = tuple(values["target_modules"])
        return cls(**values)

    def validate(self) -> None:
        require(
            self.instructions in ("template", "model"),
            "training.instructions",
            'must be "template" or "model"',
        )
        require(0 < self.test_fraction < 1, "training.test_fraction", "must be in (0, 1)")
        require(self.min_answer_words >= 1, "training.min_answer_words", "must be >= 1")
        require(self.max_answer_tokens >= 32, "training.max_answer_tokens", "must be >= 32")
        require(self.min_documents >= 2, "training.min_documents", "must be at least 2")
        self._validate_training()
        require(self.eval_drafts >= 0, "training.eval_drafts", "must be 0 or more")
        require(
            self.promote_metric in PROMOTE_METRICS,
            "training.promote_metric",
            f"must be one of {', '.join(PROMOTE_METRICS)}",
        )
        require(0 <= self.promote_margin < 1, "training.promote_margin", "must be in [0, 1)")
        require(2.0 <= self.quantize_bits <= 8.0, "training.quantize_bits", "must be 2.0..8.0")
        require(self.quantize_head_bits in (6, 8), "training.quantize_head_bits", "must be 6 or 8")

    def _validate_training(self) -> None:
        require(self.lora_rank >= 1, "training.lora_rank", "must be at least 1")
        require(self.lora_alpha >= 1, "training.lora_alpha", "must be at least 1")
        require(0 <= self.lora_dropout < 1, "training.lora_dropout", "must be in [0, 1)")
        require(self.epochs > 0, "training.epochs", "must be positive")
        require(self.max_steps >= 0, "training.max_steps", "must be 0 (use epochs) or more")
        require(self.batch_size >= 1, "training.batch_size", "must be at least 1")
        require(self.grad_accum >= 1, "training.grad_accum", "must be at least 1")
        require(0 < self.learning_rate < 1, "training.learning_rate", "must be in (0, 1)")
        require(self.max_seq_len >= 64, "training.max_seq_len", "must be at least 64")
        require(self.save_steps >= 1, "training.save_steps", "must be at least 1")
        require(self.dpo_beta > 0, "training.dpo_beta", "must be positive")
        require(self.pairs_per_prompt >= 1, "training.pairs_per_prompt", "must be at least 1")
