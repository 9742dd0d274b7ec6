"""Evaluation: the base model against tuned ones on the held-out split of the dataset.

Per model (`ModelSpec`: an HF folder, plus a PEFT LoRA adapter or not):
- perplexity of the owner's real held-out answers: each answer, closed by the end-of-turn
  token, follows the generation prompt (the chat template over the instruction), and only
  the answer's tokens are scored; the token-weighted mean NLL over the split, exponentiated.
  Examples longer than `max_seq_len` tokens are cut at the end, like in training.
- greedy drafts for the first `drafts` test instructions (more when `samples` asks for more
  to show), with `generate` under no_grad after seeding torch;
- style similarity: the mean cosine between each draft's embedding and the centroid of the
  owner's held-out answers (train and test answers when the test split has fewer than
  `MIN_CENTROID_TEXTS`);
- stylometry of the drafts (`training.stylometry`) and its distance to the owner's held-out
  text; the owner's vocabulary is built from train and test answers.
Models are loaded one at a time, float32, and freed before the next. The result is an
`EvalReport` (training/eval_report.py: the numbers, a few samples side by side, and `beats`,
which promotion asks); it is importable from here too.
"""

from __future__ import annotations

import gc
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.errors import ConfigError, InputError
from core.memory import release_free_memory
from core.offline import stay_offline
from model.generator import Message, render_transcript
from retrieval.embedder import Embedder
from training import stylometry
from training.dataset import Example, read_split
from training.device import resolve_device
from training.eval_report import METRICS, PROMOTE_METRICS, EvalReport, Sample
from training.settings import TrainingSettings

# The report moved to training.eval_report; these names stay importable from here.
__all__ = [
    "METRICS",
    "PROMOTE_METRICS",
    "EvalReport",
    "ModelSpec",
    "Sample",
    "answer_nll",
    "chat_ids",
    "draft",
    "evaluate",
    "load_model",
]

Progress = Callable[[str, int, int], None]

MIN_CENTROID_TEXTS = 3


@dataclass(frozen=True)
class ModelSpec:
    name: str  # the report's column: "base", a run id
    base_dir: Path
    adapter_dir: Path | None = None


def evaluate(
    models: Sequence[ModelSpec],
    dataset_folder: Path,
    embedder: Embedder,
    settings: TrainingSettings,
    progress: Progress | None = None,
) -> EvalReport:
    """Score each model on the held-out split; see the module docstring."""
    train, test = read_split(dataset_folder, "train", required=False), _read_test(dataset_folder)
    _check_models(models, settings)
    notify = progress or (lambda stage, done, total: None)
    owner_vocabulary = stylometry.vocabulary(e.answer for e in [*train, *test])
    owner_style = stylometry.measure([e.answer for e in test], owner_vocabulary)
    centroid_examples, centroid = (
        (test, "test") if len(test) >= MIN_CENTROID_TEXTS else ([*train, *test], "train and test")
    )
    owner_centroid = stylometry.centroid(embedder.embed([e.answer for e in centroid_examples]))
    styled = test[: settings.eval_drafts]
    shown = test[: settings.eval_samples]
    prompted = test[: max(len(styled), len(shown))]
    metrics: dict[str, dict[str, float]] = {}
    drafts: dict[str, list[str]] = {}
    for spec in models:
        nll, tokens, drafts[spec.name] = _run_model(spec, test, prompted, settings, notify)
        if tokens == 0:
            raise ConfigError(
                f"max_seq_len {settings.max_seq_len} leaves no room for any answer after its "
                "prompt; raise training.max_seq_len"
            )
        mean_nll = nll / tokens
        values = metrics[spec.name] = {
            "perplexity": math.exp(mean_nll) if mean_nll < 700 else math.inf
        }
        values["answer_tokens"] = float(tokens)
        written = drafts[spec.name][: len(styled)]
        if written:
            notify(f"style {spec.name}", 0, 1)
            vectors = embedder.embed(written)
            values["style_similarity"] = stylometry.similarity(vectors, owner_centroid)
            style = stylometry.measure(written, owner_vocabulary)
            values |= style.to_json()
            values["stylometry_distance"] = stylometry.distance(style, owner_style)
            values["drafts"] = float(len(written))
            notify(f"style {spec.name}", 1, 1)
    samples = [
        Sample(e.instruction, _shorten(e.answer), {m.name: drafts[m.name][i] for m in models})
        for i, e in enumerate(shown)
    ]
    return EvalReport(
        models=[m.name for m in models],
        metrics=metrics,
        owner=owner_style.to_json(),
        samples=samples,
        dataset=str(dataset_folder),
        test_examples=len(test),
        centroid=centroid,
        settings=_report_settings(settings),
    )


def load_model(spec: ModelSpec, device: str = "cpu") -> tuple[Any, Any]:
    """(model, tokenizer): the base in float32 with the adapter applied, in eval mode."""
    stay_offline()
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(spec.base_dir)
        model: Any = AutoModelForCausalLM.from_pretrained(spec.base_dir, dtype=torch.float32)
        if spec.adapter_dir is not None:
            from peft import PeftModel

            model = PeftModel.from_pretrained(model, str(spec.adapter_dir))
    except Exception as exc:  # a corrupt file, an adapter for another base
        raise ConfigError(
            f"cannot load the model {spec.name!r} ({spec.base_dir}"
            f"{f' + {spec.adapter_dir}' if spec.adapter_dir else ''}): "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    return model.to(device).eval(), tokenizer


def chat_ids(tokenizer: Any, instruction: str, answer: str = "") -> tuple[list[int], list[int]]:
    """(prompt ids, answer ids): the generation prompt for `instruction`, and `answer`
    closed by the end-of-turn token: exactly what the model writes when drafting it."""
    if getattr(tokenizer, "chat_template", None):
        turns = [{"role": "user", "content": instruction}]
        prompt = str(
            tokenizer.apply_chat_template(turns, tokenize=False, add_generation_prompt=True)
        )
    else:
        prompt, answer = render_transcript([Message("user", instruction)]), " " + answer
    # The template holds the special tokens already: add none twice.
    prompt_ids: list[int] = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    answer_ids: list[int] = tokenizer(answer, add_special_tokens=False)["input_ids"]
    if tokenizer.eos_token_id is not None:
        answer_ids.append(tokenizer.eos_token_id)
    return prompt_ids, answer_ids


def answer_nll(
    model: Any, tokenizer: Any, instruction: str, answer: str, max_seq_len: int
) -> tuple[float, int]:
    """(summed NLL, tokens scored) of `answer` after the prompt; prompt tokens are masked."""
    import torch
    import torch.nn.functional as F

    prompt_ids, answer_ids = chat_ids(tokenizer, instruction, answer)
    ids = [*prompt_ids, *answer_ids][:max_seq_len]
    scored = len(ids) - len(prompt_ids)
    if scored <= 0:
        return 0.0, 0
    labels = torch.tensor([-100] * len(prompt_ids) + ids[len(prompt_ids) :])
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([ids], device=model.device)).logits[0]
    # The logits at position t predict token t + 1.
    nll = F.cross_entropy(logits[:-1].float().cpu(), labels[1:], ignore_index=-100, reduction="sum")
    return float(nll), scored


def draft(model: Any, tokenizer: Any, instruction: str, max_new_tokens: int) -> str:
    """The model's greedy answer to `instruction`."""
    import torch

    prompt_ids, _ = chat_ids(tokenizer, instruction)
    eos = {tokenizer.eos_token_id}
    configured = getattr(model.generation_config, "eos_token_id", None)
    eos |= set(configured) if isinstance(configured, list) else {configured}
    eos_ids = sorted(i for i in eos if isinstance(i, int))
    ids = torch.tensor([prompt_ids], device=model.device)
    with torch.no_grad():
        out = model.generate(
            input_ids=ids,
            attention_mask=torch.ones_like(ids),
            max_new_tokens=max_new_tokens,
            do_sample=False,
            temperature=None,  # clear the model's sampling defaults: greedy, no warning
            top_p=None,
            top_k=None,
            eos_token_id=eos_ids or None,
            pad_token_id=eos_ids[0] if eos_ids else None,
        )
    text: str = tokenizer.decode(out[0, len(prompt_ids) :], skip_special_tokens=True)
    return text.strip()


def _run_model(
    spec: ModelSpec,
    test: list[Example],
    prompted: list[Example],
    settings: TrainingSettings,
    notify: Progress,
) -> tuple[float, int, list[str]]:
    import torch

    model, tokenizer = load_model(spec, resolve_device(settings))
    try:
        window = int(getattr(model.config, "max_position_embeddings", 0) or 0)
        limit = min(settings.max_seq_len, window or settings.max_seq_len)
        nll, tokens = 0.0, 0
        for done, example in enumerate(test):
            notify(f"perplexity {spec.name}", done, len(test))
            example_nll, scored = answer_nll(
                model, tokenizer, example.instruction, example.answer, limit
            )
            nll, tokens = nll + example_nll, tokens + scored
        notify(f"perplexity {spec.name}", len(test), len(test))
        torch.manual_seed(settings.seed)
        drafts = []
        for done, example in enumerate(prompted):
            notify(f"drafts {spec.name}", done, len(prompted))
            drafts.append(
                draft(model, tokenizer, example.instruction, settings.eval_max_new_tokens)
            )
        notify(f"drafts {spec.name}", len(prompted), len(prompted))
        return nll, tokens, drafts
    finally:
        del model, tokenizer
        gc.collect()
        release_free_memory()


def _report_settings(settings: TrainingSettings) -> dict[str, Any]:
    """What the report records of how it was made (eval.json's `settings`)."""
    return {
        "drafts": settings.eval_drafts,
        "samples": settings.eval_samples,
        "max_new_tokens": settings.eval_max_new_tokens,
        "max_seq_len": settings.max_seq_len,
        "seed": settings.seed,
        "device": resolve_device(settings),
    }


def _read_test(folder: Path) -> list[Example]:
    if not folder.is_dir():
        raise InputError(str(folder), "no such dataset folder; run `llm-twin dataset build`")
    test = read_split(folder, "test")
    if not test:
        raise InputError(
            str(folder),
            "the test split is empty, so there is nothing held out to evaluate on; "
            "rebuild the dataset with more documents or a larger training.test_fraction",
        )
    return test


def _check_models(models: Sequence[ModelSpec], settings: TrainingSettings) -> None:
    """Fail before the first model loads, not after an hour of scoring."""
    if not models:
        raise ConfigError("nothing to evaluate: give at least one model")
    names = [m.name for m in models]
    if len(set(names)) != len(names) or not all(names):
        raise ConfigError(f"model names must be distinct and non-empty, got {names}")
    for spec in models:
        if not (spec.base_dir / "config.json").is_file():
            raise ConfigError(
                f"the base model of {spec.name!r}, {spec.base_dir}, is not an HF model folder "
                "(no config.json); set training.base_model to one"
            )
        if (
            spec.adapter_dir is not None
            and not (spec.adapter_dir / "adapter_config.json").is_file()
        ):
            raise ConfigError(
                f"the adapter of {spec.name!r}, {spec.adapter_dir}, is not a PEFT LoRA adapter "
                "folder (no adapter_config.json); train it again or remove it from the registry"
            )
    resolve_device(settings)  # a named GPU that is not there fails here


def _shorten(text: str, limit: int = 600) -> str:
    text = text.strip()
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(maxsplit=1)[0]
    return cut.rstrip(" ,;:") + " …"
