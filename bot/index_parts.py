"""The search side of the twin, built from config: the embedder, the chunker, the index
(checked against what it was built with), and what a search finds held to what the
warehouse still stores. `Twin` holds each part once; this module says how each is made,
and imports what a part needs only when it is made (`sources` and `forget` never import
the model stack or open the index)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.config import Config, secret

if TYPE_CHECKING:
    from ingest.chunking import Chunker
    from ingest.warehouse.store import Warehouse
    from retrieval.embedder import SentenceTransformerEmbedder
    from retrieval.index import IndexManifest, VectorIndex
    from retrieval.types import SearchHit


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


def stored_only(hits: list[SearchHit], warehouse: Warehouse) -> list[SearchHit]:
    """`hits` less those of documents no longer in the warehouse: forgotten by a process
    that held no index (`llm-twin forget` without a bot), their chunks stay until the
    index's next open drops them (bot/index_health.py)."""
    stored = warehouse.stored_ids(hit.chunk.document_id for hit in hits)
    return [hit for hit in hits if hit.chunk.document_id in stored]
