"""The config sections of retrieval: [embedding], [index] and [search].

Each field is one key of `config.toml` (where it is documented for the owner); a test keeps
the two in step.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.settings import require


@dataclass(frozen=True)
class EmbeddingSettings:
    # A sentence-transformers folder or cached hub id. Empty: the bundled all-MiniLM-L6-v2.
    model: str = ""
    # Texts per forward pass.
    batch_size: int = 16
    # "cpu", "cuda", "cuda:1", "mps".
    device: str = "cpu"

    def validate(self) -> None:
        require(self.batch_size >= 1, "embedding.batch_size", "must be at least 1")


@dataclass(frozen=True)
class IndexSettings:
    # The index backend's registered name: "lance" (embedded) or "weaviate" (a server).
    backend: str = "lance"
    # lance: where the index lives. Empty: $TWIN_HOME/index.
    path: str = ""
    # lance: build an ANN vector index from this many chunks on; below it, exact search.
    ann_min_rows: int = 20_000
    # Candidates fetched from each of the BM25 and vector legs before fusion.
    candidates: int = 50
    # Chunks embedded and committed together during ingest (one atomic commit each).
    write_batch_chunks: int = 256
    # weaviate: REST and gRPC addresses (empty gRPC: same host, port 50051), Weaviate Cloud.
    weaviate_url: str = "http://localhost:8080"
    weaviate_grpc_url: str = ""
    weaviate_cloud: bool = False
    # weaviate: the collection, and a tenant name (multi-tenancy: one tenant per owner).
    weaviate_collection: str = "TwinChunk"
    weaviate_tenant: str = ""
    # weaviate: shards and replication factor at creation (0: the server's default), and
    # the consistency level of each request ("ONE", "QUORUM", "ALL"; "": the default).
    weaviate_shards: int = 0
    weaviate_replication_factor: int = 0
    weaviate_consistency: str = ""
    # weaviate: objects per insert request, and seconds to wait for the server.
    weaviate_batch_size: int = 200
    weaviate_timeout: float = 30.0

    def validate(self) -> None:
        pass  # the backend checks its own options when it opens


@dataclass(frozen=True)
class SearchSettings:
    # Passages returned by `llm-twin search` (drafts use drafting.k).
    k: int = 5
    # Hybrid weight: 0 = BM25 only, 1 = vector only; in between, relative-score fusion.
    alpha: float = 0.5

    def validate(self) -> None:
        require(0.0 <= self.alpha <= 1.0, "search.alpha", "must be between 0 and 1")
        require(self.k >= 1, "search.k", "must be at least 1")
