"""Building the instruction and preference datasets from the stored documents and the
rated drafts, with the configured settings."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from pathlib import Path

from ingest.document import Document
from model.generator import Finished, GenerationParams, Message, TextDelta
from model.worker import ModelWorker
from training.context import TrainingContext
from training.dataset import BuiltDataset, InstructionWriter, build_examples, save_dataset
from training.preferences import (
    PreferenceStats,
    build_preferences,
    save_preferences,
    train_examples,
)

_ASK = (
    "Here is a text someone wrote. Reply with the one-sentence request that this text "
    "answers, phrased as an instruction to a writer (for example: Write a LinkedIn post "
    "about ...). Reply with the instruction only."
)


async def build_dataset(
    context: TrainingContext, *, instructions: str | None = None
) -> BuiltDataset:
    """The dataset from every stored document, saved under $TWIN_HOME/datasets."""
    worker = await context.model_worker()
    mode = instructions or context.settings.instructions

    def count(text: str) -> int:
        return worker.generator.count_tokens([Message("assistant", text)])

    documents = await asyncio.to_thread(
        lambda: [stored.document for stored in context.warehouse.iter_documents()]
    )
    writer = _model_instructions(worker) if mode == "model" else None
    owners = context.owner.author_names
    train, test, stats = await build_examples(documents, context.settings, owners, count, writer)
    return await asyncio.to_thread(save_dataset, context.home / "datasets", train, test, stats)


async def build_preference_dataset(
    context: TrainingContext, dataset_folder: Path
) -> PreferenceStats:
    """preferences.jsonl in `dataset_folder` from the rated and edited drafts, topped up
    (when those are few) with the train split's texts against the model's own answers.
    The model is loaded only if it is asked."""
    t = context.settings
    rated = await asyncio.to_thread(context.drafts.rated_drafts)
    train = await asyncio.to_thread(train_examples, dataset_folder)
    params = GenerationParams(max_new_tokens=min(300, t.max_answer_tokens), temperature=0.0)

    async def answer(instruction: str) -> str:
        worker = await context.model_worker()
        # A reply cut short by the worker's timeout is no answer to compare against.
        messages = [Message("user", instruction)]
        return await _reply(worker, "training", messages, params, finished_only=True)

    pairs, stats = await build_preferences(rated, train, answer, t)
    await asyncio.to_thread(save_preferences, dataset_folder, pairs, stats)
    return stats


def _model_instructions(worker: ModelWorker) -> InstructionWriter:
    async def write(document: Document, answer: str) -> str | None:
        excerpt = " ".join(answer.split()[:300])
        messages = [Message("system", _ASK), Message("user", excerpt)]
        params = GenerationParams(max_new_tokens=48, temperature=0.0)
        return usable_instruction(await _reply(worker, "dataset", messages, params))

    return write


async def _reply(
    worker: ModelWorker,
    user: str,
    messages: Sequence[Message],
    params: GenerationParams,
    finished_only: bool = False,
) -> str:
    """The model's whole reply; with `finished_only`, "" unless it ended by "stop" or
    "length"."""
    text: list[str] = []
    reason = ""
    async for event in worker.stream(user, messages, params):
        if isinstance(event, TextDelta):
            text.append(event.text)
        elif isinstance(event, Finished):
            reason = event.finish_reason
    if finished_only and reason not in ("stop", "length"):
        return ""
    return "".join(text).strip()


def usable_instruction(reply: str) -> str | None:
    """The model's instruction, or None when it is not one (empty, rambling, a refusal)."""
    line = next((ln.strip() for ln in reply.strip().splitlines() if ln.strip()), "")
    line = re.sub(r"^(instruction|request)\s*:\s*", "", line, flags=re.I).strip().strip("\"'")
    words = line.split()
    if not 3 <= len(words) <= 40 or line.lower().startswith(("i ", "i'm", "sorry", "as an")):
        return None
    return line
