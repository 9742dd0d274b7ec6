"""Thin wrappers around the real ingest parts, for tests that count or break one of them,
and an `Ingestor` built from a `Twin`'s parts with any of them swapped."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bot.twin import Twin
from core.errors import StorageError
from ingest.fetcher import Fetcher
from ingest.pipeline import Ingestor
from retrieval.types import Chunk


class Delegate:
    def __init__(self, real: Any) -> None:
        self.real = real

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


class CountingEmbedder(Delegate):
    calls = 0
    texts = 0
    fail = False

    def __init__(self, real: Any) -> None:
        super().__init__(real)
        self.embedded: list[str] = []  # every text embedded, in order

    def embed(self, texts: Sequence[str]) -> Any:
        if self.fail:
            raise RuntimeError("CUDA out of memory")
        self.calls += 1
        self.texts += len(texts)
        self.embedded.extend(texts)
        return self.real.embed(texts)


class FailingIndex(Delegate):
    def replace_documents(self, chunks_by_document: Mapping[str, Sequence[Chunk]]) -> None:
        raise StorageError("index disk full")


def ingestor(twin: Twin, fetcher: Fetcher, **parts: Any) -> Ingestor:
    return Ingestor(
        warehouse=parts.get("warehouse", twin.warehouse),
        index=parts.get("index", twin.index),
        embedder=parts.get("embedder", twin.embedder),
        chunker=twin.chunker,
        registry=twin.registry,
        fetcher=fetcher,
        batch_chunks=parts.get("batch_chunks", 256),
    )
