"""`WeaviateIndex`: the `VectorIndex` on a Weaviate server or cluster (weaviate-client v4).

One collection (default `TwinChunk`) holds one object per chunk: the chunk's fields as
properties (`weaviate_schema.PROPERTIES`), our own embedding as its vector (no server-side
vectorizer) and uuid5(chunk id) as its id, so writing a chunk again replaces it. The
manifest is kept in the collection's description and checked on every open. A search is
one `query.hybrid` call: BM25 over `text` and cosine similarity to our query vector, fused
by Weaviate's relative-score fusion (the arithmetic `retrieval.fusion` copies for Lance).
With a tenant configured, the collection is multi-tenant and this index is one tenant.

Synchronous, like every `VectorIndex` (callers run it off the event loop); safe to share
between threads, with one writer at a time in this process.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from core.errors import ConfigError, StorageError
from retrieval.index import (
    IndexManifest,
    check_search,
    check_vector,
    checked_chunks,
)
from retrieval.settings import IndexSettings
from retrieval.types import Chunk, SearchFilters, SearchHit, Vector
from retrieval.weaviate_codec import (
    chunk_from,
    chunk_uuid,
    endpoint,
    leg_scores,
    object_properties,
    one_line,
    where_filter,
)
from retrieval.weaviate_collection import (
    Placement,
    clear_collection,
    client_errors,
    connect,
    drop_collection,
    open_collection,
)
from retrieval.weaviate_schema import (
    DEFAULT_COLLECTION,
    PROPERTY_NAMES,
    VECTOR_NAME,
    check_collection_name,
    check_tenant_name,
)

if TYPE_CHECKING:
    from weaviate.classes.data import DataObject
    from weaviate.classes.query import FilterReturn

CONSISTENCY_LEVELS = ("ONE", "QUORUM", "ALL")


class WeaviateIndex:
    backend: ClassVar[str] = "weaviate"

    @classmethod
    def from_settings(
        cls,
        settings: IndexSettings,
        *,
        manifest: IndexManifest,
        path: Path,
        api_key: str | None = None,
        reset: bool = False,
    ) -> WeaviateIndex:
        """The collection `[index]` configures; `api_key` comes from the environment."""
        del path  # the server keeps the index
        return cls(
            manifest,
            url=settings.weaviate_url,
            grpc_url=settings.weaviate_grpc_url or None,
            api_key=api_key,
            cloud=settings.weaviate_cloud,
            collection=settings.weaviate_collection,
            tenant=settings.weaviate_tenant or None,
            shards=settings.weaviate_shards or None,
            replication_factor=settings.weaviate_replication_factor or None,
            consistency=settings.weaviate_consistency or None,
            batch_size=settings.weaviate_batch_size,
            timeout_s=settings.weaviate_timeout,
            reset=reset,
        )

    def __init__(
        self,
        manifest: IndexManifest,
        *,
        url: str = "http://localhost:8080",
        grpc_url: str | None = None,
        api_key: str | None = None,
        cloud: bool = False,
        collection: str = DEFAULT_COLLECTION,
        tenant: str | None = None,
        shards: int | None = None,
        replication_factor: int | None = None,
        consistency: str | None = None,
        batch_size: int = 200,
        timeout_s: float = 30.0,
        reset: bool = False,
    ) -> None:
        """Connect and open (or create) the collection. `url` is the REST address of a
        self-hosted server (`grpc_url` defaults to its host, port 50051) or, with
        `cloud=True`, a Weaviate Cloud cluster URL. `api_key` comes from the caller (env
        TWIN_INDEX__WEAVIATE_API_KEY), never from a file. `shards` and
        `replication_factor` apply when the collection is created (None: the server's
        default); `consistency` is ONE, QUORUM or ALL (None: the server's default).
        `reset=True` discards this index's chunks even if built with other settings (how
        `reindex` starts), but never a collection llm-twin did not create, nor other
        tenants' chunks."""
        self.manifest = manifest
        self.url = url
        self.place = Placement(
            url=url,
            name=check_collection_name(collection),
            manifest=manifest,
            tenant=check_tenant_name(tenant) if tenant else None,
            shards=_positive("index.weaviate_shards", shards),
            replication_factor=_positive("index.weaviate_replication_factor", replication_factor),
            consistency=_consistency(consistency),
        )
        self.batch_size = _positive("index.weaviate_batch_size", batch_size) or 1
        if cloud and not api_key:
            raise ConfigError("Weaviate Cloud needs an API key: set TWIN_INDEX__WEAVIATE_API_KEY")
        address = None if cloud else endpoint(url, grpc_url)
        self._errors = client_errors()
        self._lock = threading.Lock()  # one writer at a time within this process
        self._client = connect(url, address, api_key, timeout_s)
        try:
            with self._talking("opening the collection"):
                self._collection = open_collection(self._client, self.place, reset=reset)
        except BaseException:
            self._client.close()
            raise

    @contextmanager
    def _talking(self, action: str) -> Iterator[None]:
        """Client and network failures as one StorageError line; ours pass unchanged."""
        try:
            yield
        except self._errors as exc:
            raise StorageError(
                f"the Weaviate server at {self.url} failed while {action} ({one_line(exc)}); "
                "check that it is up and reachable, then try again"
            ) from exc

    def close(self) -> None:
        self._client.close()

    def drop(self) -> None:
        """Delete this index from the server (its tenant, and the collection once no
        tenant is left), then close the connection."""
        try:
            with self._lock, self._talking("deleting the index"):
                drop_collection(self._client, self.place)
        finally:
            self.close()

    # --- writes ---------------------------------------------------------------------------

    def replace_document(self, document_id: str, chunks: Sequence[Chunk]) -> None:
        self.replace_documents({document_id: chunks})

    def replace_documents(self, chunks_by_document: Mapping[str, Sequence[Chunk]]) -> None:
        """Write the new chunks, then delete the documents' chunks that were not rewritten.

        Weaviate has no multi-object transactions: each object is written atomically, this
        call as a whole is not. Writing first (a chunk id always maps to the same object
        id, which is overwritten) means a failure midway leaves a document with the new
        chunks written so far plus old ones, never with none, and searches running
        meanwhile never see a document vanish. On an error the ingest pipeline rolls its
        warehouse transaction back (`Ingestor._commit`), so the document is not recorded
        as stored and its next ingest writes it again (`reindex` rebuilds everything);
        `_restore_index` covers a warehouse failure after this call succeeded."""
        if not chunks_by_document:
            return
        objects = self._objects(chunks_by_document)
        from weaviate.classes.query import Filter

        stale: FilterReturn = Filter.by_property("document_id").contains_any(
            list(chunks_by_document)
        )
        if objects:
            keep = [Filter.by_id().not_equal(obj.uuid) for obj in objects if obj.uuid]
            stale = Filter.all_of([stale, *keep])
        with self._lock, self._talking("writing chunks"):
            for start in range(0, len(objects), self.batch_size):
                self._insert(objects[start : start + self.batch_size])
            self._delete_where(stale)

    def _insert(self, objects: list[DataObject[dict[str, Any], None]]) -> None:
        result = self._collection.data.insert_many(objects)
        if result.has_errors:
            index, error = min(result.errors.items())
            chunk_id = objects[index].properties["chunk_id"]
            raise StorageError(
                f"the Weaviate server at {self.url} refused {len(result.errors)} of "
                f"{len(objects)} chunks (first, chunk {chunk_id}: {error.message}); "
                "ingest the documents again"
            )

    def _delete_where(self, where: FilterReturn) -> int:
        """Delete every match; one call deletes at most the server's QUERY_MAXIMUM_RESULTS."""
        removed = 0
        while True:
            result = self._collection.data.delete_many(where=where)
            if result.failed:
                raise StorageError(
                    f"the Weaviate server at {self.url} failed to delete {result.failed} of "
                    f"{result.matches} chunks; try again"
                )
            removed += result.successful
            if result.matches == 0:
                return removed
            if result.successful == 0:
                raise StorageError(
                    f"the Weaviate server at {self.url} matched {result.matches} chunks to "
                    "delete but deleted none; try again"
                )

    def delete_document(self, document_id: str) -> int:
        from weaviate.classes.query import Filter

        with self._lock, self._talking("deleting chunks"):
            return self._delete_where(Filter.by_property("document_id").equal(document_id))

    def clear(self) -> None:
        with self._lock, self._talking("clearing the index"):
            clear_collection(self._client, self.place)

    def optimize(self) -> None:
        """Nothing to do: the server compacts segments and maintains HNSW by itself."""

    def _objects(
        self, chunks_by_document: Mapping[str, Sequence[Chunk]]
    ) -> list[DataObject[dict[str, Any], None]]:
        """Validate everything before anything is written."""
        from weaviate.classes.data import DataObject

        chunks = checked_chunks(chunks_by_document, self.manifest, where=str(self.place.where))
        return [
            DataObject(
                properties=object_properties(c),
                uuid=chunk_uuid(c.chunk_id),
                vector={VECTOR_NAME: _floats(c.vector)},
            )
            for c in chunks
            if c.vector is not None
        ]

    def _check_vector(self, vector: Vector, *, what: str) -> None:
        check_vector(vector, self.manifest, where=str(self.place.where), what=what)

    # --- reads ----------------------------------------------------------------------------

    def count(self) -> int:
        with self._talking("counting chunks"):
            return int(self._collection.aggregate.over_all(total_count=True).total_count or 0)

    def document_ids(self) -> set[str]:
        with self._talking("listing documents"):
            found = self._collection.iterator(return_properties=["document_id"])
            return {str(obj.properties["document_id"]) for obj in found}

    def hybrid_search(
        self,
        text: str,
        vector: Vector,
        *,
        alpha: float = 0.5,
        k: int = 5,
        filters: SearchFilters | None = None,
    ) -> list[SearchHit]:
        check_search(alpha, k)
        if not text.strip():
            return []
        if alpha > 0.0:
            self._check_vector(vector, what="the query")
        from weaviate.classes.query import HybridFusion, MetadataQuery

        with self._talking("searching"):
            found = self._collection.query.hybrid(
                query=text,
                # alpha=0 runs BM25 alone and alpha=1 the vector search alone (server side).
                vector=_floats(vector) if alpha > 0.0 else None,
                target_vector=VECTOR_NAME if alpha > 0.0 else None,
                alpha=float(alpha),
                fusion_type=HybridFusion.RELATIVE_SCORE,
                query_properties=["text"],
                limit=k,
                filters=where_filter(filters),
                return_metadata=MetadataQuery(score=True, explain_score=True),
                return_properties=PROPERTY_NAMES,
            )
        hits = []
        for obj in found.objects:
            bm25, similarity = leg_scores(obj.metadata.explain_score)
            # Clamped like `relative_score_fusion`: float32 sums may pass 1 by a hair.
            score = min(1.0, max(0.0, float(obj.metadata.score or 0.0)))
            hits.append(SearchHit(chunk_from(obj.properties), score, bm25, similarity))
        return hits


def _floats(vector: Vector) -> list[float]:
    return [float(x) for x in np.asarray(vector, dtype=np.float32)]


def _consistency(level: str | None) -> str | None:
    if not level:
        return None
    if level.upper() not in CONSISTENCY_LEVELS:
        raise ConfigError(
            f"{level!r} is not a Weaviate consistency level; choose one of "
            f"{', '.join(CONSISTENCY_LEVELS)} (config key index.weaviate_consistency)"
        )
    return level.upper()


def _positive(key: str, value: int | None) -> int | None:
    if value is not None and value < 1:
        raise ConfigError(f"{key} must be at least 1, got {value}")
    return value
