"""What a training run works with, handed in by the bot (bot/twin.py builds it): the
settings, the folders, the stores, the embedder and the model the bot serves."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from ingest.warehouse.store import Warehouse
from model.records import DraftStore
from model.settings import ModelSettings, OwnerSettings
from model.worker import ModelWorker
from retrieval.embedder import Embedder
from training.registry import Registry
from training.settings import TrainingSettings


@dataclass(frozen=True)
class TrainingContext:
    settings: TrainingSettings  # [training]
    model: ModelSettings  # [model]: the generation model, the base when none is set
    owner: OwnerSettings  # whose writing the datasets keep
    home: Path  # the state folder ($TWIN_HOME): datasets/, runs/ and logs/ go here
    model_cache: Path  # where a GGUF base is dequantized once
    registry: Registry  # the model registry: runs and the active model
    warehouse: Warehouse  # the stored documents
    drafts: DraftStore  # rated and edited drafts, for preference pairs
    embedder: Embedder  # evaluation's style similarity
    # The bot's one model worker (loading the model on the first call), and unloading it.
    model_worker: Callable[[], Awaitable[ModelWorker]]
    release_model: Callable[[], Awaitable[None]]
    # Swap in the registry's active model if it changed (a serving bot); True if it did.
    follow_active_model: Callable[[], Awaitable[bool]]
    # The command line that runs `llm-twin train` for this home and config file.
    trainer: tuple[str, ...]
