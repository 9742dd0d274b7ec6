"""Building the instruction dataset from the warehouse with the configured settings."""

from __future__ import annotations

import asyncio
import re

from bot.app import Twin
from ingest.document import Document
from model.generator import GenerationParams, Message, TextDelta
from model.worker import ModelWorker
from training.dataset import (
    BuiltDataset,
    DatasetSettings,
    InstructionWriter,
    build_examples,
    save_dataset,
)

_ASK = (
    "Here is a text someone wrote. Reply with the one-sentence request that this text "
    "answers, phrased as an instruction to a writer (for example: Write a LinkedIn post "
    "about ...). Reply with the instruction only."
)


def dataset_settings(twin: Twin) -> DatasetSettings:
    t = twin.config.training
    return DatasetSettings(
        owner_names=twin.config.owner_names,
        test_fraction=t.test_fraction,
        min_answer_words=t.min_answer_words,
        max_answer_tokens=t.max_answer_tokens,
        min_documents=t.min_documents,
    )


async def build_dataset(twin: Twin, *, instructions: str | None = None) -> BuiltDataset:
    """The dataset from every stored document, saved under $TWIN_HOME/datasets."""
    worker = await twin.model_worker()
    mode = instructions or twin.config.training.instructions

    def count(text: str) -> int:
        return worker.generator.count_tokens([Message("assistant", text)])

    documents = await asyncio.to_thread(
        lambda: [stored.document for stored in twin.warehouse.iter_documents()]
    )
    writer = _model_instructions(worker) if mode == "model" else None
    train, test, stats = await build_examples(documents, dataset_settings(twin), count, writer)
    return await asyncio.to_thread(save_dataset, twin.config.home / "datasets", train, test, stats)


def _model_instructions(worker: ModelWorker) -> InstructionWriter:
    async def write(document: Document, answer: str) -> str | None:
        excerpt = " ".join(answer.split()[:300])
        messages = [Message("system", _ASK), Message("user", excerpt)]
        params = GenerationParams(max_new_tokens=48, temperature=0.0)
        reply = "".join(
            [
                event.text
                async for event in worker.stream("dataset", messages, params)
                if isinstance(event, TextDelta)
            ]
        )
        return usable_instruction(reply)

    return write


def usable_instruction(reply: str) -> str | None:
    """The model's instruction, or None when it is not one (empty, rambling, a refusal)."""
    line = next((ln.strip() for ln in reply.strip().splitlines() if ln.strip()), "")
    line = re.sub(r"^(instruction|request)\s*:\s*", "", line, flags=re.I).strip().strip("\"'")
    words = line.split()
    if not 3 <= len(words) <= 40 or line.lower().startswith(("i ", "i'm", "sorry", "as an")):
        return None
    return line
