"""`LanceIndex`: the embedded default `VectorIndex`, on LanceDB.

Layout: a LanceDB database at `path` holding the table `chunks`, plus `path/manifest.json`
(the settings the index was built with, checked on every open). Full-text search uses
LanceDB's native BM25 index; vector search uses cosine distance, exact until the table
holds `ann_min_rows` rows, then an IVF_HNSW_SQ index built by `optimize()`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from core.errors import StorageError, TwinError
from core.faults import describe, first_line, is_os_fault
from core.files import process_lock
from retrieval.fusion import relative_score_fusion
from retrieval.index import (
    IndexManifest,
    check_search,
    check_vector,
    checked_chunks,
)
from retrieval.settings import IndexSettings
from retrieval.types import Chunk, SearchFilters, SearchHit, Vector

log = logging.getLogger(__name__)
TABLE = "chunks"
MANIFEST = "manifest.json"
LOCK = ".open.lock"
# Measured on 2 cores, 384-d: exact vector search p95 is ~25 ms at 20k rows, ~90 ms at
# 50k, ~250 ms at 100k; the ANN index answers in ~10 ms at 100k (bench/search_bench.py).
DEFAULT_ANN_MIN_ROWS = 20_000
# BM25 over rows not yet in the FTS index scans them (+~25 µs per row per query at 100k
# rows); past this many, a write folds them in with an O(table) optimize (~0.5-1 s at 100k).
DEFAULT_FTS_MAX_UNINDEXED = 256
# Each index update adds an ANN delta segment (+~0.3 ms per query each); past this many,
# `optimize()` retrains the ANN index from scratch.
MAX_ANN_DELTAS = 10
_Rows = dict[str, dict[str, Any]]  # chunk_id -> stored row, gathered by the search legs
_Ranked = list[tuple[str, float]]  # (chunk_id, raw score), best first
# Everything but the vector: what a hit carries back.
# fmt: off
_RESULT_COLUMNS = [
    "chunk_id", "document_id", "ordinal", "text", "url", "title", "platform", "author",
    "published_at",
]
# fmt: on


def _schema(dimension: int) -> Any:
    import pyarrow as pa

    kinds = {"ordinal": pa.int32(), "published_at": pa.timestamp("us", tz="UTC")}
    fields = [
        pa.field(name, kinds.get(name, pa.string()), nullable=name == "published_at")
        for name in _RESULT_COLUMNS
    ]
    vector = pa.field("vector", pa.list_(pa.float32(), dimension), nullable=False)
    return pa.schema([*fields, vector])


def quote(value: str) -> str:
    """A SQL string literal: the only escape in standard SQL is a doubled quote."""
    return "'" + value.replace("'", "''") + "'"


def _utc(moment: datetime) -> datetime:
    """Naive datetimes are taken to be UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _timestamp(moment: datetime) -> str:
    return f"TIMESTAMP '{_utc(moment).strftime('%Y-%m-%dT%H:%M:%S.%f')}Z'"


def _in(column: str, values: Iterable[str]) -> str:
    return f"{column} IN ({', '.join(quote(v) for v in values)})"


def where_clause(filters: SearchFilters | None) -> str | None:
    """The SQL prefilter for `filters`; the date window is [after, before)."""
    if filters is None or filters.is_empty():
        return None
    parts = []
    if filters.platforms:
        parts.append(_in("platform", filters.platforms))
    if filters.authors:
        parts.append(_in("author", filters.authors))
    if filters.published_after is not None:
        parts.append(f"published_at >= {_timestamp(filters.published_after)}")
    if filters.published_before is not None:
        parts.append(f"published_at < {_timestamp(filters.published_before)}")
    return " AND ".join(f"({p})" for p in parts)


class LanceIndex:
    backend: ClassVar[str] = "lance"

    @classmethod
    def from_settings(
        cls,
        settings: IndexSettings,
        *,
        manifest: IndexManifest,
        path: Path,
        api_key: str | None = None,
        reset: bool = False,
    ) -> LanceIndex:
        """The index `[index]` configures, kept at `path`."""
        del api_key  # an embedded index has no server to log in to
        return cls(
            path,
            manifest,
            ann_min_rows=settings.ann_min_rows,
            candidates=settings.candidates,
            reset=reset,
        )

    def __init__(
        self,
        path: Path,
        manifest: IndexManifest,
        *,
        ann_min_rows: int = DEFAULT_ANN_MIN_ROWS,
        candidates: int = 50,
        fts_max_unindexed: int = DEFAULT_FTS_MAX_UNINDEXED,
        reset: bool = False,
    ) -> None:
        """Open (or create) the index at `path`. `reset=True` discards whatever is there,
        even an index built with other settings: that is how `reindex` starts."""
        import lancedb

        self.path = Path(path)
        self.manifest = manifest
        self.ann_min_rows = ann_min_rows
        self.candidates = candidates
        self.fts_max_unindexed = fts_max_unindexed
        self._lock = threading.Lock()  # one writer at a time within this process
        self._legs = ThreadPoolExecutor(max_workers=2, thread_name_prefix="lance-bm25")
        with self._io("opening it"):
            self.path.mkdir(parents=True, exist_ok=True)
            # Interval 0: see commits made by other processes (the CLI, the bot) on every read.
            self._db: Any = lancedb.connect(self.path, read_consistency_interval=timedelta(0))
            # Two processes opening a new index at once would both create the table (one
            # then fails) or read it before its manifest is written: they take turns here.
            with process_lock(self.path / LOCK):
                self._table: Any = self._open_table(reset)

    @contextmanager
    def _io(self, action: str) -> Iterator[None]:
        """A fault of the disk under the index (full, read-only, gone) as one line that
        names the folder and what to do; anything else propagates as it is."""
        try:
            yield
        except TwinError:
            raise
        except Exception as exc:
            if not is_os_fault(exc):
                raise
            raise StorageError(describe(exc, self.path, action, "index")) from exc

    def _open_table(self, reset: bool) -> Any:
        manifest_path = self.path / MANIFEST
        exists = TABLE in self._db.list_tables().tables
        if reset:
            manifest_path.unlink(missing_ok=True)
            if exists:
                self._db.drop_table(TABLE)
            exists = False
        if manifest_path.exists():
            self.manifest.check_against(IndexManifest.read(manifest_path), where=str(self.path))
        elif exists:
            raise StorageError(
                f"the index at {self.path} has no {MANIFEST}, so its settings are unknown. "
                "Run `llm-twin reindex` to rebuild it from the warehouse."
            )
        table = self._db.open_table(TABLE) if exists else self._create_table()
        if _index_stats(table, "text") is None:  # a crash between table and index creation
            _create_fts_index(table)
        # Written last: a crash before this leaves a table without manifest, which the
        # next open reports instead of trusting.
        if not manifest_path.exists():
            self.manifest.write(manifest_path)
        return table

    def _create_table(self) -> Any:
        table = self._db.create_table(TABLE, schema=_schema(self.manifest.dimension))
        _create_fts_index(table)
        return table

    def replace_document(self, document_id: str, chunks: Sequence[Chunk]) -> None:
        self.replace_documents({document_id: chunks})

    def replace_documents(self, chunks_by_document: Mapping[str, Sequence[Chunk]]) -> None:
        if not chunks_by_document:
            return
        rows = self._rows(chunks_by_document)
        with self._lock, self._io("writing chunks"):
            # One commit: upsert the new chunks and delete every other chunk of these
            # documents, so a failure never leaves half a document.
            (
                self._table.merge_insert("chunk_id")
                .when_matched_update_all()
                .when_not_matched_insert_all()
                .when_not_matched_by_source_delete(_in("document_id", chunks_by_document))
                .execute(rows)
            )
            self._keep_fts_current()

    def delete_document(self, document_id: str) -> int:
        with self._lock, self._io("deleting chunks"):
            result = self._table.delete(f"document_id = {quote(document_id)}")
            return int(result.num_deleted_rows)

    def clear(self) -> None:
        with self._lock, self._io("clearing it"), process_lock(self.path / LOCK):
            self._db.drop_table(TABLE)
            self._table = self._create_table()

    def optimize(self) -> None:
        """Compact files, fold new rows into the indices, and build (or retrain) the ANN
        index once the table holds `ann_min_rows` rows. Slow when the ANN index is (re)built
        (about a minute at 100k rows on 2 cores): run it after bulk ingest or on a schedule."""
        from lancedb.index import IvfHnswSq

        with self._lock, self._io("optimizing it"):
            try:
                self._table.optimize()
            except Exception as exc:
                if "commit conflict" not in str(exc).lower():
                    raise
                # Another process compacted the same files first (two ingests ending
                # together): its compaction stands for this one; the next optimize goes on.
                log.info("another process was optimizing the index at %s: left to it", self.path)
                return
            if self._table.count_rows() < self.ann_min_rows:
                return
            ann = self._index_stats("vector")
            if ann is None or ann.num_indices > MAX_ANN_DELTAS:
                self._table.create_index(
                    "vector", config=IvfHnswSq(distance_type="cosine"), replace=True
                )

    def _index_stats(self, column: str) -> Any:
        return _index_stats(self._table, column)

    def _keep_fts_current(self) -> None:
        stats = self._index_stats("text")
        if stats is None or stats.num_unindexed_rows <= self.fts_max_unindexed:
            return
        try:
            self._table.optimize()
        except Exception as exc:  # the write is committed: failing it now would lie
            # (BM25 still finds the rows by scanning them; the next write folds them in)
            log.info("folding new rows into the full-text index failed (%s)", first_line(exc))

    def _rows(self, chunks_by_document: Mapping[str, Sequence[Chunk]]) -> Any:
        """Validate everything before anything is written."""
        import pyarrow as pa

        chunks = checked_chunks(chunks_by_document, self.manifest, where=str(self.path))
        dim = self.manifest.dimension
        flat = np.asarray([c.vector for c in chunks], dtype=np.float32).reshape(-1)
        columns: dict[str, Any] = {
            name: [getattr(c, name) for c in chunks] for name in _RESULT_COLUMNS[:8]
        }
        columns["published_at"] = [
            None if c.published_at is None else _utc(c.published_at) for c in chunks
        ]
        columns["vector"] = pa.FixedSizeListArray.from_arrays(pa.array(flat), dim)
        return pa.table(columns, schema=_schema(dim))

    def _check_vector(self, vector: Vector, *, what: str) -> None:
        check_vector(vector, self.manifest, where=str(self.path), what=what)

    def count(self) -> int:
        with self._io("reading it"):
            return int(self._table.count_rows())

    def document_ids(self) -> set[str]:
        with self._io("reading it"):
            ids = self._table.search().select(["document_id"]).limit(None).to_arrow()
        return set(ids.column("document_id").unique().to_pylist())

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
        if not text.strip() or self._table.count_rows() == 0:
            return []
        if alpha > 0.0:
            self._check_vector(vector, what="the query")
        where = where_clause(filters)
        limit = max(self.candidates, k)
        rows: _Rows = {}
        if 0.0 < alpha < 1.0:
            # The legs are independent: side by side they cut hybrid p95 by a third on 2
            # cores (measured with bench/search_bench.py).
            bm25_rows: _Rows = {}
            pending = self._legs.submit(self._bm25_leg, text, where, limit, bm25_rows)
            near = self._vector_leg(vector, where, limit, rows)
            bm25 = pending.result()
            rows.update(bm25_rows)
        else:  # one leg only: the other is not even run
            bm25 = self._bm25_leg(text, where, limit, rows) if alpha == 0.0 else []
            near = self._vector_leg(vector, where, limit, rows) if alpha == 1.0 else []
        fused = relative_score_fusion(bm25, near, alpha)[:k]
        return [
            SearchHit(_chunk(rows[f.key]), f.score, f.bm25_score, f.vector_score) for f in fused
        ]

    def _bm25_leg(self, text: str, where: str | None, limit: int, rows: _Rows) -> _Ranked:
        query = self._table.search(text, query_type="fts", fts_columns="text")
        return _run(query, where, limit, "_score", rows)

    def _vector_leg(self, vector: Vector, where: str | None, limit: int, rows: _Rows) -> _Ranked:
        query = self._table.search(np.asarray(vector, dtype=np.float32), query_type="vector")
        found = _run(query.distance_type("cosine"), where, limit, "_distance", rows)
        # Cosine distance is 1 - cosine similarity; report the similarity.
        return [(key, 1.0 - distance) for key, distance in found]


def _index_stats(table: Any, column: str) -> Any:
    """LanceDB's statistics of the index on `column`, or None when there is none."""
    for config in table.list_indices():
        if config.columns == [column]:
            return table.index_stats(config.name)
    return None


def _create_fts_index(table: Any) -> None:
    from lancedb.index import FTS

    # Built while the table is empty so it always exists; LanceDB still finds rows added
    # later (by scanning them) until an index update folds them in.
    table.create_index("text", config=FTS(stem=True, remove_stop_words=True))


def _run(query: Any, where: str | None, limit: int, score: str, rows: _Rows) -> _Ranked:
    """Run one leg; remember each row (for the hits) and return (chunk_id, raw score)."""
    if where:
        query = query.where(where, prefilter=True)
    found = query.limit(limit).select([*_RESULT_COLUMNS, score]).to_arrow().to_pylist()
    for row in found:
        rows.setdefault(row["chunk_id"], row)
    return [(str(row["chunk_id"]), float(row[score])) for row in found]


def _chunk(row: Mapping[str, Any]) -> Chunk:
    """A stored row as a `Chunk`; the vector is not read back (search never needs it)."""
    fields = {name: row[name] for name in _RESULT_COLUMNS}
    if fields["published_at"] is not None:
        fields["published_at"] = _utc(fields["published_at"])
    return Chunk(**fields)
