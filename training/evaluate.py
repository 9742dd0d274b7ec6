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
  text; the owner's vocabulary is built from train and test answers;
- voice: the share of the drafts that an authorship classifier (training/attribution.py),
  trained on the owner's train answers against the base model's answers to train
  instructions (reused from preferences.jsonl, else written here by the base model, up to
  `base_answers_wanted`) and other people's writing (`others`), attributes to the owner,
  with a bootstrap interval; absent when the check finds too little writing to judge.
Per-example NLL and per-draft values are kept (`EvalReport.items`) so the promotion gate
can weigh differences against their noise. Models are loaded one at a time, float32, and
freed before the next. The result is an `EvalReport` (training/eval_report.py: the
numbers, a few samples side by side, `beats` and the promotion `gate`); it is importable
from here too.
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
from training.attribution import (
    MIN_OTHER_TEXTS,
    Writing,
    base_answers,
    instructions_to_answer,
    judge_voice,
    share_metrics,
)
from training.dataset import Example, read_split
from training.device import resolve_device
from training.eval_report import METRICS, PROMOTE_METRICS, EvalReport, Sample
from training.promotion import draft_counts
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


@dataclass
class _ModelRun:
    nll: list[float]  # per held-out example
    tokens: list[int]
    drafts: list[str]  # per prompted test instruction
    answers: list[Writing]  # the base model's answers to train instructions (base only)


@dataclass(frozen=True)
class _Owner:
    vocabulary: frozenset[str]
    style: stylometry.Stylometry
    centroid: Any
    centroid_from: str


def evaluate(
    models: Sequence[ModelSpec],
    dataset_folder: Path,
    embedder: Embedder,
    settings: TrainingSettings,
    progress: Progress | None = None,
    others: Sequence[Writing] = (),
) -> EvalReport:
    """Score each model on the held-out split; see the module docstring. `others` is
    writing that is not the owner's (attribution.others_writing), for the voice check."""
    train, test = read_split(dataset_folder, "train", required=False), _read_test(dataset_folder)
    _check_models(models, settings)
    notify = progress or (lambda stage, done, total: None)
    owner = _owner(train, test, embedder)
    styled = test[: settings.eval_drafts]
    shown = test[: settings.eval_samples]
    prompted = test[: max(len(styled), len(shown))]
    reused = base_answers(dataset_folder)
    wanted = base_answers_wanted(settings) - len(reused) if styled else 0
    asked = instructions_to_answer(train, reused, wanted)
    base = next((m.name for m in models if m.adapter_dir is None), None)
    runs: dict[str, _ModelRun] = {}
    for spec in models:
        ask = asked if spec.name == base else []
        runs[spec.name] = _run_model(spec, test, prompted, ask, settings, notify)
    metrics: dict[str, dict[str, float]] = {}
    items: dict[str, dict[str, list[float]]] = {}
    for spec in models:
        metrics[spec.name], items[spec.name] = _scores(
            spec.name, runs[spec.name], len(styled), owner, embedder, settings, notify
        )
    negatives = [*reused, *others, *(a for run in runs.values() for a in run.answers)]
    owner_json = owner.style.to_json()
    drafts = {name: run.drafts[: len(styled)] for name, run in runs.items()}
    voice = judge_voice(train, test, negatives, drafts, settings.seed) if styled else None
    for name, values in voice.drafts.items() if voice else ():
        items[name]["owner_probability"] = values
        metrics[name] |= share_metrics(values, settings.seed)
    owner_json |= share_metrics(voice.held_out, settings.seed) if voice else {}
    samples = [
        Sample(e.instruction, _shorten(e.answer), {m.name: runs[m.name].drafts[i] for m in models})
        for i, e in enumerate(shown)
    ]
    return EvalReport(
        models=[m.name for m in models],
        metrics=metrics,
        owner=owner_json,
        samples=samples,
        dataset=str(dataset_folder),
        test_examples=len(test),
        centroid=owner.centroid_from,
        settings=_report_settings(settings),
        owner_documents=len({e.document_id for e in [*train, *test]}),
        items=items,
        voice=voice.check.to_json() if voice is not None else {},
    )


def base_answers_wanted(settings: TrainingSettings) -> int:
    """How many train instructions the base model answers for the voice check, when the
    preference builder left fewer of its answers: twice the drafts, at least 10."""
    return max(2 * settings.eval_drafts, MIN_OTHER_TEXTS)


def _owner(train: list[Example], test: list[Example], embedder: Embedder) -> _Owner:
    """The owner's vocabulary, held-out stylometry and embedding centroid."""
    vocabulary = stylometry.vocabulary(e.answer for e in [*train, *test])
    style = stylometry.measure([e.answer for e in test], vocabulary)
    examples, origin = (
        (test, "test") if len(test) >= MIN_CENTROID_TEXTS else ([*train, *test], "train and test")
    )
    centroid = stylometry.centroid(embedder.embed([e.answer for e in examples]))
    return _Owner(vocabulary, style, centroid, origin)


def _scores(
    name: str,
    run: _ModelRun,
    styled: int,
    owner: _Owner,
    embedder: Embedder,
    settings: TrainingSettings,
    notify: Progress,
) -> tuple[dict[str, float], dict[str, list[float]]]:
    """(metrics, per-item series) of one model's run."""
    tokens = sum(run.tokens)
    if tokens == 0:
        raise ConfigError(
            f"max_seq_len {settings.max_seq_len} leaves no room for any answer after its "
            "prompt; raise training.max_seq_len"
        )
    mean_nll = sum(run.nll) / tokens
    values = {"perplexity": math.exp(mean_nll) if mean_nll < 700 else math.inf}
    values["answer_tokens"] = float(tokens)
    items: dict[str, list[float]] = {"nll": run.nll, "tokens": [float(t) for t in run.tokens]}
    written = run.drafts[:styled]
    if written:
        notify(f"style {name}", 0, 1)
        vectors = embedder.embed(written)
        values["style_similarity"] = stylometry.similarity(vectors, owner.centroid)
        items["style_similarity"] = [
            stylometry.similarity(vectors[i : i + 1], owner.centroid) for i in range(len(written))
        ]
        style = stylometry.measure(written, owner.vocabulary)
        values |= style.to_json()
        values["stylometry_distance"] = stylometry.distance(style, owner.style)
        values["drafts"] = float(len(written))
        items |= draft_counts(written, owner.vocabulary)
        notify(f"style {name}", 1, 1)
    return values, items


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
    asked: list[Example],
    settings: TrainingSettings,
    notify: Progress,
) -> _ModelRun:
    """Per-example NLL of the held-out answers, drafts for `prompted`, and answers to the
    train instructions of `asked` (the base model's, for the voice check)."""
    import torch

    model, tokenizer = load_model(spec, resolve_device(settings))
    try:
        window = int(getattr(model.config, "max_position_embeddings", 0) or 0)
        limit = min(settings.max_seq_len, window or settings.max_seq_len)
        run = _ModelRun([], [], [], [])
        for done, example in enumerate(test):
            notify(f"perplexity {spec.name}", done, len(test))
            example_nll, scored = answer_nll(
                model, tokenizer, example.instruction, example.answer, limit
            )
            run.nll.append(example_nll)
            run.tokens.append(scored)
        notify(f"perplexity {spec.name}", len(test), len(test))
        torch.manual_seed(settings.seed)
        for stage, examples in ((f"drafts {spec.name}", prompted), (f"answers {spec.name}", asked)):
            for done, example in enumerate(examples):
                notify(stage, done, len(examples))
                text = draft(model, tokenizer, example.instruction, settings.eval_max_new_tokens)
                if examples is prompted:
                    run.drafts.append(text)
                else:
                    run.answers.append(Writing(text, example.document_id, "base model"))
            if examples:
                notify(stage, len(examples), len(examples))
        return run
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
