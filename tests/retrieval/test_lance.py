"""What the contract suite cannot say about `LanceIndex`: its files, manifest and indices."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from core.errors import IndexMismatchError, StorageError
from retrieval.index import open_index
from retrieval.lance import LanceIndex, where_clause
from retrieval.types import SearchFilters
from tests.retrieval.test_index_contract import DIM, MANIFEST, chunk, ids, search, vec


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "index"


def lance_indices(path: Path) -> dict[str, str]:
    """Index name -> type, read straight from the LanceDB files."""
    import lancedb

    table = lancedb.connect(path).open_table("chunks")
    return {i.name: i.index_type for i in table.list_indices()}


def fts_unindexed_rows(index: LanceIndex) -> int:
    table: Any = index._table  # a peek at LanceDB's own bookkeeping
    return int(table.index_stats("text_idx").num_unindexed_rows)


def test_open_index_builds_a_lance_index(path: Path) -> None:
    index = open_index("lance", path=path, manifest=MANIFEST)
    assert isinstance(index, LanceIndex)
    assert (path / "manifest.json").exists()


def test_reopen_keeps_data(path: Path) -> None:
    LanceIndex(path, MANIFEST).replace_document("d1", [chunk("d1", 0, "durable words", vec(1))])
    again = LanceIndex(path, MANIFEST)
    assert again.count() == 1
    assert ids(search(again, "durable", vec(1))) == ["d1#0"]


@pytest.mark.parametrize(
    ("change", "setting"),
    [
        ({"embedding_model": "other/model"}, "embedding_model"),
        ({"dimension": DIM * 2}, "dimension"),
        ({"chunk_tokens": 128}, "chunk_tokens"),
    ],
)
def test_manifest_mismatch_names_setting_and_fix(
    path: Path, change: dict[str, Any], setting: str
) -> None:
    LanceIndex(path, MANIFEST)
    with pytest.raises(IndexMismatchError) as error:
        LanceIndex(path, replace(MANIFEST, **change))
    assert setting in str(error.value)
    assert "llm-twin reindex" in str(error.value)


def test_reset_rebuilds_a_mismatched_index(path: Path) -> None:
    LanceIndex(path, MANIFEST).replace_document("d1", [chunk("d1", 0, "old", vec(1))])
    bigger = replace(MANIFEST, dimension=DIM * 2)
    fresh = LanceIndex(path, bigger, reset=True)
    assert fresh.count() == 0
    assert LanceIndex(path, bigger).count() == 0  # the new manifest was written


def test_missing_manifest_with_table_is_a_storage_error(path: Path) -> None:
    LanceIndex(path, MANIFEST).replace_document("d1", [chunk("d1", 0, "text", vec(1))])
    (path / "manifest.json").unlink()
    with pytest.raises(StorageError, match="llm-twin reindex"):
        LanceIndex(path, MANIFEST)


def test_corrupt_manifest_is_a_storage_error(path: Path) -> None:
    LanceIndex(path, MANIFEST)
    (path / "manifest.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(StorageError, match="llm-twin reindex"):
        LanceIndex(path, MANIFEST)


def test_wrong_dimension_query_is_a_clear_error(path: Path) -> None:
    index = LanceIndex(path, MANIFEST)
    index.replace_document("d1", [chunk("d1", 0, "text", vec(1))])
    with pytest.raises(IndexMismatchError, match="llm-twin reindex"):
        index.hybrid_search("text", np.ones(DIM + 1, dtype=np.float32), alpha=1.0)


HOSTILE = ["x' OR '1'='1", "a'b", "back\\slash'", "'; DROP TABLE chunks; --", 'quote"d']


@pytest.mark.parametrize("hostile", HOSTILE)
def test_filter_values_are_quoted(path: Path, hostile: str) -> None:
    index = LanceIndex(path, MANIFEST)
    index.replace_document("odd", [chunk("odd", 0, "rust notes", vec(1), platform=hostile)])
    index.replace_document("ok", [chunk("ok", 0, "rust notes", vec(1), author=hostile)])
    for alpha in (0.0, 0.5, 1.0):
        by_platform = search(index, "rust", vec(1), alpha=alpha, filters=SearchFilters((hostile,)))
        assert ids(by_platform) == ["odd#0"]
        by_author = SearchFilters(authors=(hostile,))
        assert ids(search(index, "rust", vec(1), alpha=alpha, filters=by_author)) == ["ok#0"]
    assert index.delete_document(hostile) == 0
    assert index.count() == 2


def test_injection_cannot_widen_a_filter(path: Path) -> None:
    index = LanceIndex(path, MANIFEST)
    index.replace_document("d1", [chunk("d1", 0, "rust notes", vec(1), platform="linkedin")])
    filters = SearchFilters(platforms=("x' OR '1'='1",))
    assert search(index, "rust", vec(1), filters=filters) == []


def test_where_clause_shape() -> None:
    clause = where_clause(
        SearchFilters(platforms=("a'b",), published_after=datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC))
    )
    assert clause == (
        "(platform IN ('a''b')) AND (published_at >= TIMESTAMP '2024-01-02T03:04:05.000000Z')"
    )
    assert where_clause(SearchFilters()) is None


def test_document_added_after_optimize_is_found_by_bm25(path: Path) -> None:
    index = LanceIndex(path, MANIFEST)
    index.replace_document("old", [chunk("old", 0, "an older passage about kites", vec(1))])
    index.optimize()
    index.replace_document("new", [chunk("new", 0, "a fresh passage about zeppelins", vec(1))])
    assert fts_unindexed_rows(index) == 1  # not in the BM25 index yet ...
    assert ids(search(index, "zeppelins", vec(0, 1), alpha=0.0)) == ["new#0"]  # ... found
    index.optimize()
    assert fts_unindexed_rows(index) == 0
    assert ids(search(index, "zeppelins", vec(0, 1), alpha=0.0)) == ["new#0"]


def test_writes_fold_a_long_fts_backlog_into_the_index(path: Path) -> None:
    index = LanceIndex(path, MANIFEST, fts_max_unindexed=3)
    index.replace_document("a", [chunk("a", i, f"alpha {i}", vec(1)) for i in range(3)])
    assert fts_unindexed_rows(index) == 3
    index.replace_document("b", [chunk("b", 0, "beta", vec(1))])
    assert fts_unindexed_rows(index) == 0
    assert ids(search(index, "beta", vec(1), alpha=0.0)) == ["b#0"]


def test_ann_index_is_built_past_threshold_and_finds_nearest(path: Path) -> None:
    rng = np.random.default_rng(7)
    vectors = rng.standard_normal((400, DIM)).astype(np.float32)
    platforms = ["linkedin", "medium"]
    index = LanceIndex(path, MANIFEST, ann_min_rows=300)
    index.replace_documents(
        {
            f"d{d}": [
                chunk(
                    f"d{d}", i, f"passage {d} {i}", vectors[d * 10 + i], platform=platforms[d % 2]
                )
                for i in range(10)
            ]
            for d in range(40)
        }
    )
    index.optimize()
    assert "IvfHnswSq" in lance_indices(path).values()
    for row in (0, 137, 399):
        target = f"d{row // 10}#{row % 10}"
        hits = index.hybrid_search("passage", vectors[row], alpha=1.0, k=3)
        assert ids(hits)[0] == target
        assert hits[0].vector_score == pytest.approx(1.0, abs=1e-3)
        platform = SearchFilters(platforms=(platforms[(row // 10) % 2],))
        filtered = index.hybrid_search("passage", vectors[row], alpha=1.0, k=3, filters=platform)
        assert ids(filtered)[0] == target


def test_below_threshold_no_ann_index(path: Path) -> None:
    index = LanceIndex(path, MANIFEST, ann_min_rows=300)
    index.replace_document("d", [chunk("d", i, "text", vec(1, i)) for i in range(5)])
    index.optimize()
    assert set(lance_indices(path).values()) == {"FTS"}


def test_replaced_text_leaves_the_fts_index(path: Path) -> None:
    index = LanceIndex(path, MANIFEST)
    index.replace_document("d1", [chunk("d1", 0, "walrus habitats", vec(1))])
    index.optimize()  # the old text is now inside the FTS index, not just scanned
    index.replace_document("d1", [chunk("d1", 0, "penguin habitats", vec(1))])
    assert search(index, "walrus", vec(1), alpha=0.0) == []
    assert ids(search(index, "penguin", vec(1), alpha=0.0)) == ["d1#0"]


def test_concurrent_searches_and_writes(path: Path) -> None:
    index = LanceIndex(path, MANIFEST)
    index.replace_document("seed", [chunk("seed", 0, "lighthouse keeper", vec(1))])
    errors: list[BaseException] = []

    def searcher() -> None:
        try:
            for _ in range(10):
                assert "seed#0" in ids(search(index, "lighthouse", vec(1), alpha=0.5))
        except BaseException as exc:  # re-raised below, in the test's own thread
            errors.append(exc)

    threads = [threading.Thread(target=searcher) for _ in range(3)]
    for thread in threads:
        thread.start()
    for d in range(10):
        index.replace_document(f"d{d}", [chunk(f"d{d}", 0, f"lighthouse {d}", vec(0, 1))])
    for thread in threads:
        thread.join()
    assert errors == []
    assert index.count() == 11


def test_a_second_handle_sees_new_commits(path: Path) -> None:
    # The bot and a CLI ingest run hold separate handles on the same index.
    reader, writer = LanceIndex(path, MANIFEST), LanceIndex(path, MANIFEST)
    assert reader.count() == 0
    writer.replace_document("d1", [chunk("d1", 0, "shared news", vec(1))])
    assert reader.count() == 1
    assert ids(search(reader, "news", vec(1))) == ["d1#0"]


def test_document_ids_lists_every_document(path: Path) -> None:
    index = LanceIndex(path, MANIFEST)
    index.replace_documents({f"d{i}": [chunk(f"d{i}", 0, "t", vec(1))] for i in range(1500)})
    assert index.document_ids() == {f"d{i}" for i in range(1500)}


@pytest.mark.parametrize(
    ("batch", "message"),
    [
        ({"d1": [chunk("d2", 0, "t", vec(1))]}, "not part of d1"),
        ({"d1": [replace(chunk("d1", 0, "t", vec(1)), vector=None)]}, "no vector"),
        ({"d1": [chunk("d1", 0, "t", vec(1)), chunk("d1", 0, "u", vec(1))]}, "twice"),
        ({"d1": [chunk("d1", 0, "t", np.full(DIM, np.nan, dtype=np.float32))]}, "NaN"),
    ],
)
def test_bad_chunks_are_refused_before_writing(
    path: Path, batch: dict[str, list[Any]], message: str
) -> None:
    index = LanceIndex(path, MANIFEST)
    with pytest.raises(ValueError, match=message):
        index.replace_documents(batch)
    assert index.count() == 0


def test_two_processes_optimizing_at_once_both_finish(path: Path) -> None:
    """Two ingests ending together each optimize the index: one compaction loses LanceDB's
    commit race ("Retryable commit conflict", every time here before the fix) and leaves
    the work to the other, instead of failing its ingest after its writes committed."""
    first = LanceIndex(path, MANIFEST)
    for n in range(20):  # one small fragment per write: something to compact
        first.replace_document(f"d{n}", [chunk(f"d{n}", 0, f"note {n}", vec(1 + n % 3))])
    second = LanceIndex(path, MANIFEST)  # its own connection, as another process has
    together = threading.Barrier(2)
    failed: list[BaseException] = []

    def optimize(index: LanceIndex) -> None:
        together.wait()
        try:
            index.optimize()
        except BaseException as exc:
            failed.append(exc)

    threads = [threading.Thread(target=optimize, args=(i,)) for i in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failed == []
    assert LanceIndex(path, MANIFEST).count() == 20
