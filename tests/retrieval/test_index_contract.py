"""The `VectorIndex` contract, run against every backend.

Vectors are small hand-made ones (dimension 8) so every ranking below is known in advance.
A new backend joins by adding an entry to `BACKENDS` and a param to `opener` (mark it,
e.g. `pytest.mark.weaviate`). Weaviate runs when `TWIN_WEAVIATE_URL` names a server (its
REST address; optional `TWIN_WEAVIATE_GRPC_URL` and `TWIN_WEAVIATE_API_KEY`), each test on
a fresh collection that is dropped afterwards.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Protocol

import numpy as np
import pytest

from core.errors import IndexMismatchError
from retrieval.index import IndexManifest, VectorIndex, open_index
from retrieval.types import Chunk, SearchFilters, SearchHit, Vector

DIM = 8
MANIFEST = IndexManifest(
    embedding_model="test/hand-made", dimension=DIM, chunk_tokens=200, chunk_overlap=32
)
WEAVIATE_URL = os.environ.get("TWIN_WEAVIATE_URL", "")


class Opener(Protocol):
    """Opens the index at this test's location (a directory, a collection)."""

    def __call__(self, manifest: IndexManifest, *, reset: bool = False) -> VectorIndex: ...


@contextmanager
def _lance(tmp_path: Path) -> Iterator[Opener]:
    def open_here(manifest: IndexManifest, *, reset: bool = False) -> VectorIndex:
        return open_index("lance", path=tmp_path / "index", manifest=manifest, reset=reset)

    yield open_here


@contextmanager
def _weaviate(tmp_path: Path) -> Iterator[Opener]:
    from retrieval.weaviate import WeaviateIndex

    collection = f"TwinTest{uuid.uuid4().hex}"
    opened: list[VectorIndex] = []

    def open_here(manifest: IndexManifest, *, reset: bool = False) -> VectorIndex:
        index = open_index(
            "weaviate",
            manifest=manifest,
            url=WEAVIATE_URL,
            grpc_url=os.environ.get("TWIN_WEAVIATE_GRPC_URL") or None,
            api_key=os.environ.get("TWIN_WEAVIATE_API_KEY") or None,
            collection=collection,
            reset=reset,
        )
        opened.append(index)
        return index

    try:
        yield open_here
    finally:
        for position, index in enumerate(opened):
            assert isinstance(index, WeaviateIndex)
            if position == 0:
                index.drop()  # the collection goes, whatever the test left in it
            else:
                index.close()


BACKENDS: dict[str, Callable[[Path], AbstractContextManager[Opener]]] = {
    "lance": _lance,
    "weaviate": _weaviate,
}


@pytest.fixture(
    params=[
        pytest.param("lance", id="lance"),
        pytest.param(
            "weaviate",
            id="weaviate",
            marks=[
                pytest.mark.weaviate,
                pytest.mark.skipif(
                    not WEAVIATE_URL, reason="needs TWIN_WEAVIATE_URL (a Weaviate server)"
                ),
            ],
        ),
    ]
)
def opener(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Opener]:
    with BACKENDS[request.param](tmp_path) as open_here:
        yield open_here


@pytest.fixture
def index(opener: Opener) -> Iterator[VectorIndex]:
    built = opener(MANIFEST)
    yield built
    built.clear()


def vec(*weights: float) -> Vector:
    """A unit vector with the given leading components (the rest zero)."""
    v = np.zeros(DIM, dtype=np.float32)
    v[: len(weights)] = weights
    return (v / np.linalg.norm(v)).astype(np.float32)


def chunk(
    document_id: str,
    ordinal: int,
    text: str,
    vector: Vector,
    *,
    platform: str = "linkedin",
    author: str = "Ada Lovelace",
    published_at: datetime | None = datetime(2024, 5, 1, 12, 0, tzinfo=UTC),
) -> Chunk:
    return Chunk(
        chunk_id=f"{document_id}#{ordinal}",
        document_id=document_id,
        ordinal=ordinal,
        text=text,
        url=f"https://example.com/{document_id}",
        title=f"Title of {document_id}",
        platform=platform,
        author=author,
        published_at=published_at,
        vector=vector,
    )


def ids(hits: list[SearchHit]) -> list[str]:
    return [h.chunk.chunk_id for h in hits]


def search(
    index: VectorIndex,
    text: str,
    vector: Vector,
    *,
    alpha: float = 0.5,
    filters: SearchFilters | None = None,
) -> list[SearchHit]:
    return index.hybrid_search(text, vector, alpha=alpha, k=10, filters=filters)


def test_upsert_then_count_and_ids(index: VectorIndex) -> None:
    index.replace_document("d1", [chunk("d1", i, f"passage {i}", vec(1, i)) for i in range(3)])
    index.replace_document("d2", [chunk("d2", 0, "another passage", vec(0, 1))])
    assert index.count() == 4
    assert index.document_ids() == {"d1", "d2"}


def test_reupsert_replaces_and_drops_stale_chunks(index: VectorIndex) -> None:
    index.replace_document("d1", [chunk("d1", i, f"old zebra text {i}", vec(1)) for i in range(3)])
    index.replace_document("d1", [chunk("d1", 0, "new giraffe text", vec(1))])
    assert index.count() == 1
    assert search(index, "zebra", vec(1), alpha=0.0) == []
    [hit] = search(index, "giraffe", vec(1), alpha=0.0)
    assert hit.chunk.text == "new giraffe text"


def test_replace_documents_is_per_document(index: VectorIndex) -> None:
    index.replace_document("keep", [chunk("keep", 0, "kept", vec(1))])
    index.replace_document("gone", [chunk("gone", 0, "to be emptied", vec(1))])
    index.replace_documents(
        {"new": [chunk("new", 0, "n0", vec(1)), chunk("new", 1, "n1", vec(1))], "gone": []}
    )
    assert index.document_ids() == {"keep", "new"}
    assert index.count() == 3


def test_empty_chunk_list_deletes(index: VectorIndex) -> None:
    index.replace_document("d1", [chunk("d1", 0, "text", vec(1))])
    index.replace_document("d1", [])
    assert index.count() == 0


def test_delete_returns_rows_removed(index: VectorIndex) -> None:
    index.replace_document("d1", [chunk("d1", i, "text", vec(1)) for i in range(3)])
    index.replace_document("d2", [chunk("d2", 0, "text", vec(1))])
    assert index.delete_document("d1") == 3
    assert index.delete_document("d1") == 0
    assert index.delete_document("never-seen") == 0
    assert index.document_ids() == {"d2"}


def test_wrong_dimension_writes_nothing(index: VectorIndex) -> None:
    good = chunk("good", 0, "fine", vec(1))
    bad = chunk("bad", 0, "too long", np.ones(DIM + 1, dtype=np.float32))
    with pytest.raises(IndexMismatchError, match="dimension"):
        index.replace_documents({"good": [good], "bad": [bad]})
    assert index.count() == 0


def test_clear_empties(index: VectorIndex) -> None:
    index.replace_document("d1", [chunk("d1", 0, "text", vec(1))])
    index.clear()
    assert index.count() == 0
    assert index.document_ids() == set()


@pytest.fixture
def library(index: VectorIndex) -> VectorIndex:
    """Three documents that differ in platform, author and date."""
    jan, jun, dec = (datetime(2024, m, 1, tzinfo=UTC) for m in (1, 6, 12))
    index.replace_document(
        "li", [chunk("li", 0, "notes on rust", vec(1), platform="linkedin", published_at=jan)]
    )
    index.replace_document(
        "md", [chunk("md", 0, "notes on rust", vec(1), platform="medium", published_at=jun)]
    )
    index.replace_document(
        "gh",
        [
            chunk(
                "gh",
                0,
                "notes on rust",
                vec(1),
                platform="github",
                author="Grace Hopper",
                published_at=dec,
            )
        ],
    )
    index.replace_document(
        "nodate", [chunk("nodate", 0, "notes on rust", vec(1), published_at=None)]
    )
    return index


@pytest.mark.parametrize("alpha", [0.0, 0.5, 1.0])
@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        (SearchFilters(platforms=("medium",)), {"md#0"}),
        (SearchFilters(platforms=("medium", "github")), {"md#0", "gh#0"}),
        (SearchFilters(authors=("Grace Hopper",)), {"gh#0"}),
        (SearchFilters(platforms=("nowhere",)), set()),
        # The window is [after, before): on/after `after`, strictly before `before`.
        (SearchFilters(published_after=datetime(2024, 6, 1, tzinfo=UTC)), {"md#0", "gh#0"}),
        (SearchFilters(published_before=datetime(2024, 6, 1, tzinfo=UTC)), {"li#0"}),
        (
            SearchFilters(
                published_after=datetime(2024, 2, 1, tzinfo=UTC),
                published_before=datetime(2024, 12, 1, tzinfo=UTC),
            ),
            {"md#0"},
        ),
        (
            SearchFilters(
                platforms=("linkedin", "github"),
                authors=("Ada Lovelace",),
                published_after=datetime(2023, 1, 1, tzinfo=UTC),
            ),
            {"li#0"},
        ),
        # A date bound excludes undated passages; no filter at all keeps them.
        (SearchFilters(), {"li#0", "md#0", "gh#0", "nodate#0"}),
    ],
)
def test_filters(
    library: VectorIndex, filters: SearchFilters, expected: set[str], alpha: float
) -> None:
    assert set(ids(search(library, "rust", vec(1), alpha=alpha, filters=filters))) == expected


def test_date_filter_compares_instants_not_wall_clocks(library: VectorIndex) -> None:
    # 2024-06-01 02:00 at UTC+3 is 2024-05-31 23:00 UTC: June's passage is after it.
    after = datetime(2024, 6, 1, 2, 0, tzinfo=timezone(timedelta(hours=3)))
    hits = search(library, "rust", vec(1), filters=SearchFilters(published_before=after))
    assert set(ids(hits)) == {"li#0"}


@pytest.fixture
def rivals(index: VectorIndex) -> VectorIndex:
    """`keywords` has the query's words but a far vector; `nearest` has the query's vector
    but none of its words; `both` has the words and a vector close to the query."""
    index.replace_document(
        "keywords", [chunk("keywords", 0, "quantization of llama adapters", vec(0, 0, 1))]
    )
    index.replace_document(
        "nearest", [chunk("nearest", 0, "a walk along the harbour", vec(1, 0.02))]
    )
    index.replace_document(
        "both", [chunk("both", 0, "llama quantization in practice", vec(1, 0.3))]
    )
    index.replace_document(
        "noise",
        [
            chunk(
                "noise",
                0,
                "gardening tips from a llama farm: compost, seedlings, pruning and watering",
                vec(0, 1),
            )
        ],
    )
    return index


def test_alpha_zero_is_pure_bm25(rivals: VectorIndex) -> None:
    hits = search(rivals, "quantization llama adapters", vec(1), alpha=0.0)
    assert ids(hits)[0] == "keywords#0"
    assert "nearest#0" not in ids(hits)  # no shared word: BM25 never finds it
    assert all(h.vector_score is None and h.bm25_score is not None for h in hits)


def test_alpha_one_is_pure_vector(rivals: VectorIndex) -> None:
    hits = search(rivals, "quantization llama adapters", vec(1), alpha=1.0)
    assert ids(hits)[:2] == ["nearest#0", "both#0"]
    assert hits[0].vector_score == pytest.approx(float(vec(1) @ vec(1, 0.02)), abs=1e-5)
    assert all(h.bm25_score is None and h.vector_score is not None for h in hits)


def test_hybrid_prefers_passages_matching_both(rivals: VectorIndex) -> None:
    hits = search(rivals, "quantization llama adapters", vec(1), alpha=0.5)
    assert ids(hits)[0] == "both#0"
    assert set(ids(hits[1:3])) == {"keywords#0", "nearest#0"}
    top = hits[0]
    assert top.bm25_score is not None and top.bm25_score > 0
    assert top.vector_score is not None and top.vector_score > 0.9


@pytest.mark.parametrize("alpha", [0.0, 0.3, 0.5, 0.7, 1.0])
def test_scores_in_unit_interval_best_first(rivals: VectorIndex, alpha: float) -> None:
    hits = search(rivals, "quantization llama adapters harbour", vec(1, 1), alpha=alpha)
    scores = [h.score for h in hits]
    assert hits and all(0.0 <= s <= 1.0 for s in scores)
    assert scores == sorted(scores, reverse=True)
    if alpha in (0.0, 1.0):  # one leg alone: its best result normalises to 1
        assert scores[0] == pytest.approx(1.0)


def test_k_limits_results(rivals: VectorIndex) -> None:
    assert len(rivals.hybrid_search("llama", vec(1), alpha=0.5, k=2)) == 2


def test_empty_table_and_empty_text(index: VectorIndex) -> None:
    assert index.hybrid_search("anything", vec(1)) == []
    index.replace_document("d1", [chunk("d1", 0, "something", vec(1))])
    assert index.hybrid_search("", vec(1)) == []
    assert index.hybrid_search("   ", vec(1), alpha=1.0) == []


def test_query_text_with_punctuation_does_not_break(rivals: VectorIndex) -> None:
    text = 'what\'s "llama" (quantization) OR -adapters: +x* ~1 ^2 \\ [a] {b}'
    assert ids(search(rivals, text, vec(0, 0, 1), alpha=0.5))[0] == "keywords#0"


def test_hits_carry_full_provenance(index: VectorIndex) -> None:
    when = datetime(2023, 3, 4, 5, 6, 7, 123456, tzinfo=timezone(timedelta(hours=-5)))
    stored = chunk("doc", 3, "provenance matters", vec(1), platform="medium", published_at=when)
    index.replace_document("doc", [stored])
    [hit] = search(index, "provenance", vec(1))
    got = hit.chunk
    assert (got.chunk_id, got.document_id, got.ordinal, got.text) == (
        "doc#3",
        "doc",
        3,
        "provenance matters",
    )
    assert (got.url, got.title, got.platform, got.author) == (
        "https://example.com/doc",
        "Title of doc",
        "medium",
        "Ada Lovelace",
    )
    assert got.published_at == when
    assert got.published_at is not None and got.published_at.utcoffset() == timedelta(0)
    assert got == stored  # the vector is not part of equality


def test_reopen_keeps_chunks_and_checks_settings(opener: Opener) -> None:
    opener(MANIFEST).replace_document("d1", [chunk("d1", 0, "durable words", vec(1))])
    again = opener(MANIFEST)
    assert again.count() == 1
    assert again.document_ids() == {"d1"}
    bigger = replace(MANIFEST, dimension=DIM * 2)
    with pytest.raises(IndexMismatchError, match="dimension"):
        opener(bigger)
    assert opener(bigger, reset=True).count() == 0  # reindex starts like this
    assert opener(bigger).count() == 0  # the new settings were recorded
