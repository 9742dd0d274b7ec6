"""A training run starts here: dataset, SFT, DPO, evaluation and promotion (`llm-twin
train` and `eval`), each step recorded in the model registry.

A run is registered only once its dataset is built (too little data fails before the
registry hears of it), marked failed with the reason on any error or interrupt (and can be
resumed from its last checkpoint with `--resume`), and marked trained only when its
adapter is complete on disk. Evaluation scores it against the base and the active model on
the held-out split and activates it only if the promotion gate (training/promotion.py)
lets it through: better on `training.promote_metric` by more than the noise, and not worse
in voice; eval.md says which rule decided.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from core.errors import ConfigError
from model.gguf import dequantized_folder
from model.hf import ModelSource, resolve_model_source
from training.attribution import VoiceCheck, Writing, others_writing
from training.context import TrainingContext
from training.dataset import BuiltDataset
from training.dataset_build import build_dataset, build_preference_dataset
from training.dpo import train_dpo
from training.evaluate import EvalReport, ModelSpec, evaluate
from training.lora import CardInfo, Progress
from training.registry import Run
from training.settings import TrainingSettings
from training.sft import train_sft

log = logging.getLogger(__name__)

Report = Callable[[str], None]

MAX_OTHER_DOCUMENTS = 200


@dataclass(frozen=True)
class TrainOptions:
    max_steps: int | None = None
    dpo: bool = False
    resume: str | None = None
    evaluate: bool = True
    promote: bool = True


def train_settings(settings: TrainingSettings, max_steps: int | None = None) -> TrainingSettings:
    """[training], with `--steps` applied."""
    if max_steps is None:
        return settings
    return replace(settings, max_steps=max_steps)


def training_base(context: TrainingContext) -> str:
    """The HF folder (or cached hub id) fine-tuned: training.base_model, else the
    generation model; a GGUF is dequantized once into the model cache."""
    t, m = context.settings, context.model
    if not t.base_model and m.backend not in ("", "hf", "llamacpp"):
        raise ConfigError(
            f"model.backend is {m.backend}, whose weights cannot be fine-tuned: set "
            "training.base_model to the HF folder (or .gguf) of the model you serve"
        )
    source = _base_source(context)
    if source.gguf_file:
        folder = dequantized_folder(source.location, source.gguf_file, context.model_cache)
        return str(folder)
    return source.location


def training_base_gguf(context: TrainingContext) -> str:
    """The GGUF file the base was dequantized from ("" for an HF base): recorded with
    the run, for `llm-twin export gguf`."""
    source = _base_source(context)
    return str(Path(source.location) / source.gguf_file) if source.gguf_file else ""


def _base_source(context: TrainingContext) -> ModelSource:
    t, m = context.settings, context.model
    path, gguf = (t.base_model, "") if t.base_model else (m.path, m.gguf_file)
    return resolve_model_source(path, gguf)


def run_folder(home: Path, run_id: str) -> Path:
    return home / "runs" / run_id


def _made(folder: Path) -> Path:
    """`folder`, made first: a run records no folder that does not exist (a run killed
    before its first step left one that never was)."""
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def train(
    context: TrainingContext,
    options: TrainOptions,
    report: Report,
    progress: Callable[[Progress], None],
) -> Run:
    """One whole run: dataset, SFT, optional DPO, then (by default) eval and promotion."""
    models = context.registry
    models.reap()
    if options.resume:
        run = models.resume(options.resume)
        settings = TrainingSettings.from_json(run.config["training"])
        dpo = bool(run.config.get("dpo"))
        report(f"resuming run {run.id} at its {run.stage} stage")
    else:
        settings = train_settings(context.settings, options.max_steps)
        dpo = options.dpo
        base = training_base(context)
        dataset, stats = asyncio.run(_datasets(context, dpo, report))
        run = models.start(
            base_model=base,
            dataset_hash=dataset.digest,
            dataset_folder=str(dataset.folder),
            config={"training": settings.to_json(), "dpo": dpo, "dataset": stats},
        )
        if base_gguf := training_base_gguf(context):
            models.add_paths(run.id, base_gguf=base_gguf)
        report(f"run {run.id}: training on {base}")
    folder = run_folder(context.home, run.id)
    info = CardInfo(run.id, run.base_model, run.dataset_hash)
    try:
        models.add_paths(run.id, run=str(_made(folder)))
        if run.stage == "sft":
            sft = train_sft(
                run.base_model, Path(run.dataset_folder), folder, settings, info, progress
            )
            models.add_paths(run.id, adapter=str(sft.adapter_dir), sft_adapter=str(sft.adapter_dir))
            models.add_metrics(run.id, {"sft": sft.to_json()})
            report(_stage_line(sft.to_json()))
            if dpo:
                models.set_stage(run.id, "dpo")
        if dpo:
            from training.preferences import load_preferences

            pairs = load_preferences(Path(run.dataset_folder))
            sft_adapter = Path(models.require(run.id).paths["sft_adapter"])
            result = train_dpo(run.base_model, sft_adapter, pairs, folder, settings, info, progress)
            models.add_paths(run.id, adapter=str(result.adapter_dir))
            models.add_metrics(run.id, {"dpo": result.to_json()})
            report(_stage_line(result.to_json()))
        models.set_stage(run.id, "done")
        models.finish(run.id)
    except BaseException as exc:
        why = "interrupted" if isinstance(exc, KeyboardInterrupt) else f"{exc}"
        models.fail(run.id, f"{why}; resume with `llm-twin train --resume {run.id}`")
        raise
    run = models.require(run.id)
    if options.evaluate:
        evaluate_run(context, run.id, report, promote=options.promote)
    return models.require(run.id)


async def _datasets(
    context: TrainingContext, dpo: bool, report: Report
) -> tuple[BuiltDataset, dict[str, Any]]:
    try:
        built = await build_dataset(context)
        report(
            f"dataset {built.folder.name}: {built.stats.train_examples} train and "
            f"{built.stats.test_examples} test examples"
        )
        stats: dict[str, Any] = built.stats.to_json()
        if dpo:
            pairs = await build_preference_dataset(context, built.folder)
            stats["preferences"] = pairs.to_json()
            report(f"preference pairs: {pairs.total}")
        return built, stats
    finally:
        await context.release_model()  # the memory is the trainer's now


def evaluate_run(
    context: TrainingContext, run_id: str, report: Report, *, promote: bool = True
) -> EvalReport:
    """Score `run_id` against the base and the active model; activate it if it wins."""
    models = context.registry
    run = models.require(run_id)
    adapter = run.trained_adapter("evaluated")
    active = models.active()
    specs = [ModelSpec("base", Path(run.base_model))]
    if active is not None and active.id != run.id and active.base_model == run.base_model:
        specs.append(ModelSpec(active.id, Path(active.base_model), Path(active.paths["adapter"])))
    specs.append(ModelSpec(run.id, Path(run.base_model), adapter))
    t = context.settings
    result = evaluate(
        specs,
        Path(run.dataset_folder),
        context.embedder,
        t,
        lambda stage, done, total: report(f"eval: {stage} done") if done == total else None,
        others=_others_writing(context),
    )
    incumbent = specs[-2].name
    decision = result.gate(run.id, incumbent, t.promote_metric, t.promote_margin, t.seed)
    result.promotion = decision.to_json()
    folder = run_folder(context.home, run.id) / "eval"
    result.save(folder)
    models.add_paths(run.id, eval=str(folder))
    models.add_metrics(run.id, {"eval": result.metrics})
    report(result.table())
    if result.voice:
        report(VoiceCheck.from_json(result.voice).line())
    for note in decision.notes:
        report(f"note: {note}")
    if active is not None and active.id == run.id:
        report(f"{run.id} is already the active model")
    elif not decision.promote:
        report(decision.line())
    elif promote:
        models.activate(run.id)
        report(f"{decision.line()}; {run.id} is now the active model")
    else:
        report(f"{run.id} passes the promotion gate (--no-promote: left inactive): {decision.why}")
    return result


def _others_writing(context: TrainingContext) -> list[Writing]:
    """Writing the owner stored that is not theirs, for the voice check (at most
    `MAX_OTHER_DOCUMENTS` documents, in id order: a fixed, unsorted sample)."""
    documents = (stored.document for stored in context.warehouse.iter_documents())
    return others_writing(documents, context.owner.author_names, MAX_OTHER_DOCUMENTS)


def _stage_line(result: dict[str, Any]) -> str:
    first, last = result["first_loss"], result["last_loss"]
    losses = f"loss {first:.3f} -> {last:.3f}, " if first is not None else ""
    return (
        f"{result['stage']}: {result['steps']} steps, {losses}{result['tokens_per_s']} tokens/s, "
        f"peak memory {result['peak_memory_bytes'] / 2**30:.1f} GiB"
    )
