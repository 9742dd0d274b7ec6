"""The search side of the twin, built from config: the embedder, the chunker, the index
(checked against what it was built with), and removing writing from the warehouse and
the index together. `Twin` holds each part once; this module says how each is made, and
imports what a part needs only when it is made (`sources` and `forget` never import the
model stack; a `forget` of something not stored opens nothing but the warehouse)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from bot.config import Config, secret

if TYPE_CHECKING:
    from ingest.chunking import Chunker
    from ingest.warehouse.store import Warehouse
    from retrieval.embedder import SentenceTransformerEmbedder
    from retrieval.index import IndexManifest, VectorIndex


def embedder(config: Config) -> SentenceTransformerEmbedder:
    from retrieval.embedder import SentenceTransformerEmbedder

    cfg = config.embedding
    return SentenceTransformerEmbedder(cfg.model, device=cfg.device, batch_size=cfg.batch_size)


def chunker(config: Config, embedder: SentenceTransformerEmbedder) -> Chunker:
    from ingest.chunking import Chunker

    cfg = config.chunking
    return Chunker(embedder.tokenizer, cfg.max_tokens, cfg.overlap_tokens)


def manifest(config: Config, embedder: SentenceTransformerEmbedder) -> IndexManifest:
    """What an index for `config` is built with (read from the model's folder: nothing
    is loaded for it)."""
    from retrieval.index import IndexManifest

    return IndexManifest(
        embedding_model=embedder.model_id,
        dimension=embedder.dimension,
        chunk_tokens=config.chunking.max_tokens,
        chunk_overlap=config.chunking.overlap_tokens,
    )


def open_index(
    config: Config, embedder: SentenceTransformerEmbedder, *, reset: bool = False
) -> VectorIndex:
    from retrieval.index import open_configured_index

    return open_configured_index(
        config.index,
        manifest(config, embedder),
        path=config.index_path,
        api_key=secret("index", "weaviate_api_key"),
        reset=reset,
    )


def forget(
    url: str,
    warehouse: Warehouse,
    index: Callable[[], VectorIndex],
    embedder: SentenceTransformerEmbedder,
    chunker: Callable[[], Chunker],
    batch_chunks: int,
) -> list[str]:
    """Remove a source (with its documents) or one document, from the warehouse and the
    index together (the ingest writer's transaction, as `Ingestor.forget`): the removed
    document ids. When nothing is stored under `url`, the index is not opened."""
    from ingest.writer import DocumentWriter

    if not warehouse.documents_under(url) and warehouse.get_source(url) is None:
        return []
    writer = DocumentWriter(
        warehouse=warehouse,
        index=index(),
        embedder=embedder,
        chunker=chunker(),
        batch_chunks=batch_chunks,
    )
    return writer.forget(url)
