"""The ingest pipeline's guarantees, on the real warehouse, index and embedder, with
faults injected by thin wrappers around the real parts."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest

from bot.config import load_config
from bot.twin import Twin
from core.errors import StorageError
from ingest.fetcher import Fetcher
from ingest.settings import FetchPolicy
from ingest.warehouse.store import WarehouseTransaction
from retrieval.types import Chunk
from tests.ingest.parts import CountingEmbedder, Delegate, FailingIndex, ingestor


class CommitFailsWarehouse(Delegate):
    """The index write succeeds, then the warehouse commit fails."""

    @contextmanager
    def transaction(self) -> Iterator[WarehouseTransaction]:
        with self.real.transaction() as tx:
            yield tx
            raise StorageError("database is locked")


SAMPLE = Path(__file__).resolve().parents[2] / "sample"


@pytest.fixture
def twin(tmp_path: Path) -> Iterator[Twin]:
    twin = Twin(load_config(home=tmp_path / "home", env={}))
    yield twin
    twin.close()


def write_posts(folder: Path, count: int, word: str = "original") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        (folder / f"post{i}.md").write_text(
            f"# Post {i}\n\nThis {word} post number {i} talks about topic{i} at length.\n"
        )
    return folder


async def test_unchanged_documents_are_not_embedded_again(twin: Twin, tmp_path: Path) -> None:
    folder = write_posts(tmp_path / "posts", 3)
    embedder = CountingEmbedder(twin.embedder)
    async with Fetcher(FetchPolicy()) as fetcher:
        [first] = await ingestor(twin, fetcher, embedder=embedder).ingest(
            [str(folder)], allow_paths=True
        )
        assert (first.new, first.chunks) == (3, 3)
        calls = embedder.calls
        [again] = await ingestor(twin, fetcher, embedder=embedder).ingest(
            [str(folder)], allow_paths=True
        )
    assert (again.new, again.unchanged, again.chunks) == (0, 3, 0)
    assert embedder.calls == calls
    assert twin.index.count() == 3


async def test_index_failure_leaves_no_document_row(twin: Twin, tmp_path: Path) -> None:
    folder = write_posts(tmp_path / "posts", 2)
    async with Fetcher() as fetcher:
        [result] = await ingestor(twin, fetcher, index=FailingIndex(twin.index)).ingest(
            [str(folder)], allow_paths=True
        )
    assert result.error is not None and "index disk full" in result.error
    assert "nothing was stored" in result.error
    assert twin.warehouse.count_documents() == 0
    assert twin.index.count() == 0
    assert twin.warehouse.list_sources() == []


async def test_embedder_failure_stores_nothing(twin: Twin, tmp_path: Path) -> None:
    folder = write_posts(tmp_path / "posts", 2)
    embedder = CountingEmbedder(twin.embedder)
    embedder.fail = True
    async with Fetcher() as fetcher:
        [result] = await ingestor(twin, fetcher, embedder=embedder).ingest(
            [str(folder)], allow_paths=True
        )
    assert result.error is not None and "CUDA out of memory" in result.error
    assert (twin.warehouse.count_documents(), twin.index.count()) == (0, 0)


async def test_failed_commit_puts_the_index_back(twin: Twin, tmp_path: Path) -> None:
    folder = write_posts(tmp_path / "posts", 2)
    async with Fetcher() as fetcher:
        await ingestor(twin, fetcher).ingest([str(folder)], allow_paths=True)
        write_posts(folder, 3, word="rewritten")  # two changed, one new
        flaky = CommitFailsWarehouse(twin.warehouse)
        [result] = await ingestor(twin, fetcher, warehouse=flaky).ingest(
            [str(folder)], allow_paths=True
        )
    assert result.error is not None and "database is locked" in result.error
    # The warehouse still holds the two old posts; the index matches it exactly.
    assert twin.warehouse.count_documents() == 2
    assert twin.index.count() == 2
    hits = await twin.search("rewritten post", k=5, alpha=0.0)
    assert hits == [] or all("rewritten" not in h.chunk.text for h in hits)
    hits = await twin.search("original post number", k=5, alpha=0.0)
    assert {h.chunk.document_id for h in hits} == twin.index.document_ids()


async def test_one_bad_input_does_not_stop_the_others(twin: Twin, tmp_path: Path) -> None:
    folders = [write_posts(tmp_path / f"f{i}", 1) for i in range(4)]
    inputs = [str(f) for f in folders[:2]] + ["no/such/dir"] + [str(f) for f in folders[2:]]
    seen: list[str] = []
    async with Fetcher() as fetcher:
        results = await ingestor(twin, fetcher, batch_chunks=1).ingest(
            inputs, allow_paths=True, on_result=lambda r: seen.append(r.input)
        )
    assert [r.ok for r in results] == [True, True, False, True, True]
    assert len(seen) == 5
    assert twin.warehouse.count_documents() == 4
    assert twin.index.count() == 4


async def test_the_same_input_twice_is_stored_once(twin: Twin, tmp_path: Path) -> None:
    folder = write_posts(tmp_path / "posts", 2)
    async with Fetcher() as fetcher:
        results = await ingestor(twin, fetcher).ingest([str(folder), str(folder)], allow_paths=True)
    assert all(r.ok for r in results)
    assert sum(r.new for r in results) == 2
    assert (twin.warehouse.count_documents(), twin.index.count()) == (2, 2)


async def test_a_known_source_that_fails_records_the_error(twin: Twin, tmp_path: Path) -> None:
    folder = write_posts(tmp_path / "posts", 1)
    async with Fetcher() as fetcher:
        await ingestor(twin, fetcher).ingest([str(folder)], allow_paths=True)
        for post in folder.iterdir():
            post.unlink()
        [result] = await ingestor(twin, fetcher).ingest([str(folder)], allow_paths=True)
    assert not result.ok
    [source] = twin.warehouse.list_sources()
    assert source.status == "error" and source.last_error == result.error
    assert source.documents == 1  # what was stored before is kept


async def test_without_paths_plain_text_is_refused_with_what_is_supported(twin: Twin) -> None:
    async with Fetcher() as fetcher:
        [result] = await ingestor(twin, fetcher).ingest(["my notes folder"])
    assert result.error is not None
    assert result.error.startswith("my notes folder: cannot ingest this. Supported:")
    assert "substack" in result.error and "medium" in result.error
    assert twin.warehouse.count_documents() == 0


class HalfWritingIndex(Delegate):
    """A server backend that fails halfway through a batch, once: the first document's
    chunks are written, then the connection drops."""

    failed = False

    def replace_documents(self, chunks_by_document: Mapping[str, Sequence[Chunk]]) -> None:
        if self.failed:
            self.real.replace_documents(chunks_by_document)
            return
        self.failed = True
        first = next(iter(chunks_by_document))
        self.real.replace_documents({first: chunks_by_document[first]})
        raise StorageError("weaviate http://127.0.0.1:8080: connection lost")


async def test_an_index_that_fails_halfway_is_put_back_to_the_warehouse(
    twin: Twin, tmp_path: Path
) -> None:
    folder = write_posts(tmp_path / "posts", 2)
    async with Fetcher() as fetcher:
        await ingestor(twin, fetcher).ingest([str(folder)], allow_paths=True)
        write_posts(folder, 2, word="rewritten")
        flaky = HalfWritingIndex(twin.index)
        [result] = await ingestor(twin, fetcher, index=flaky).ingest(
            [str(folder)], allow_paths=True
        )
    assert result.error is not None and "connection lost" in result.error
    # The failed batch kept its originals in the warehouse, and the index agrees with the
    # warehouse document by document: the half-written part is undone.
    stored = {d.url: d.text for d in twin.warehouse.iter_documents()}
    assert any("original" in text for text in stored.values())
    assert twin.index.count() == 2
    rewritten = {h.chunk.url for h in await twin.search("rewritten", k=5, alpha=0.0)}
    assert rewritten == {url for url, text in stored.items() if "rewritten" in text}


async def test_a_folder_of_several_platforms_is_a_mixed_source(twin: Twin, tmp_path: Path) -> None:
    """The sample folder holds LinkedIn, Medium and Substack posts: each document keeps
    its own platform, and the source is not labelled with the first file's."""
    sample = SAMPLE
    single = write_posts(tmp_path / "plain", 2)
    async with Fetcher() as fetcher:
        results = await ingestor(twin, fetcher).ingest([str(sample), str(single)], allow_paths=True)
    assert all(r.ok for r in results)
    platforms = {s.url: s.platform for s in twin.warehouse.list_sources()}
    assert platforms == {sample.as_uri(): "mixed", single.resolve().as_uri(): "local"}
    stored = {d.platform for d in twin.warehouse.iter_documents() if "/sample/" in d.url}
    assert stored == {"linkedin", "medium", "substack"}
