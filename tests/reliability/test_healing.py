"""The index heals itself from the warehouse: a lost table, documents without chunks and
chunks without documents are found when a twin opens the index and mended in the
background, while a search says so; a writer in flight is never taken for damage, and a
re-index never brings back a document removed meanwhile. Real SQLite, PostgreSQL and
LanceDB, the real embedder."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import lancedb
import pytest

from bot.config import load_config
from bot.schedules.digest_log import DigestLog
from bot.schedules.state import SchedulerState
from bot.twin import Twin
from ingest.healing import compare
from retrieval.types import Chunk
from tests.ingest.test_pipeline import write_posts
from tests.reliability.stores import chat_says, write_lock_held

SAMPLE = Path(__file__).resolve().parents[2] / "sample"


@pytest.fixture
def twin(twin_home: Path, warehouse_url: str) -> Iterator[Twin]:
    """A twin holding the sample writing (on SQLite, or on PostgreSQL), every table made."""
    twin = Twin(load_config({"warehouse.url": warehouse_url}))
    asyncio.run(ingest(twin, str(SAMPLE)))
    _ = twin.drafts, twin.models
    DigestLog(twin.warehouse)  # (a bot starting later needs no write lock for its tables)
    SchedulerState(twin.warehouse.engine, twin.warehouse.writer)
    twin.health.wait()
    yield twin
    twin.close()


async def ingest(twin: Twin, *inputs: str) -> None:
    async with twin.ingestor() as ingestor:
        results = await ingestor.ingest(list(inputs), allow_paths=True)
    assert all(r.ok for r in results), [r.error for r in results]


def reopened(twin: Twin) -> Twin:
    """A new twin (a new process, as far as the stores know) on the same home."""
    twin.close()
    return Twin(twin.config)


def ghost_chunk(twin: Twin, document_id: str = "ghost") -> Chunk:
    [vector] = twin.embedder.embed(["a passage nobody stored"])
    return Chunk(
        f"{document_id}-00000",
        document_id,
        0,
        "a ghost passage about evals",
        "https://ghost.test/",
        "Ghost",
        "blog",
        "x",
        None,
        vector,
    )


def search_urls(twin: Twin, query: str = "retrieval before fine-tuning") -> list[str]:
    return [hit.chunk.url for hit in asyncio.run(twin.search(query, k=3))]


def test_a_lost_table_is_rebuilt_in_the_background_while_search_says_so(twin: Twin) -> None:
    before = search_urls(twin)
    lancedb.connect(twin.config.index_path).drop_table("chunks")
    twin = reopened(twin)
    try:
        index = twin.index  # opening it starts the check
        note = twin.health.note()
        assert note is not None and "being rebuilt from the warehouse" in note
        assert "6 documents" in note
        twin.health.wait()
        assert twin.health.note() is None
        assert compare(twin.warehouse, index).ok
        assert search_urls(twin) == before
        assert twin.health.mended is not None and twin.health.mended.reindexed == 6
    finally:
        twin.close()


def test_missing_documents_and_orphan_chunks_are_mended_on_open(twin: Twin) -> None:
    stored = sorted(twin.warehouse.document_ids())
    twin.index.delete_document(stored[0])
    twin.index.delete_document(stored[1])
    twin.index.replace_documents({"ghost": [ghost_chunk(twin)]})
    broken = compare(twin.warehouse, twin.index)
    assert broken.missing == {stored[0], stored[1]} and broken.orphans == {"ghost"}
    assert "2 warehouse documents without chunks" in broken.describe()

    twin = reopened(twin)
    try:
        _ = twin.index
        twin.health.wait()
        assert twin.health.agreement == broken
        mended = twin.health.mended
        assert mended is not None and (mended.reindexed, mended.dropped) == (2, 1)
        assert compare(twin.warehouse, twin.index).ok
        # In step: the next open checks and finds nothing to do.
        twin = reopened(twin)
        _ = twin.index
        twin.health.wait()
        assert twin.health.mending is None and twin.health.note() is None
    finally:
        twin.close()


def test_a_writer_in_flight_is_not_taken_for_orphans(twin: Twin, tmp_path: Path) -> None:
    """Chunks go into the index just before their warehouse commit: dropping orphans
    waits for the write lock and then finds them stored."""
    from ingest.document import Document

    document = Document(
        url="https://blog.test/in-flight",
        platform="blog",
        title="In flight",
        text="Text.",
        author="x",
    )
    chunk = ghost_chunk(twin, document.id)
    in_index, dropped = threading.Event(), []

    def drop() -> None:
        in_index.wait()
        dropped.extend(asyncio.run(drop_orphans(twin, [document.id])))

    dropper = threading.Thread(target=drop)
    dropper.start()
    with twin.warehouse.transaction() as tx:
        tx.upsert_document(document)
        twin.index.replace_documents({document.id: [chunk]})
        in_index.set()
        time.sleep(0.5)  # the dropper is waiting for the write lock meanwhile
    dropper.join(timeout=60)
    assert dropped == []
    assert document.id in twin.index.document_ids()
    assert compare(twin.warehouse, twin.index).ok


async def forget(twin: Twin, url: str) -> list[str]:
    async with twin.ingestor() as ingestor:
        return await asyncio.to_thread(ingestor.forget, url)


async def drop_orphans(twin: Twin, ids: list[str]) -> list[str]:
    async with twin.ingestor() as ingestor:
        return await asyncio.to_thread(ingestor.drop_orphans, ids)


def test_a_reindex_does_not_bring_back_a_document_removed_meanwhile(
    twin: Twin, tmp_path: Path
) -> None:
    folder = write_posts(tmp_path / "posts", 2)
    asyncio.run(ingest(twin, str(folder)))
    [first, second] = [d for d in twin.warehouse.iter_documents() if "posts" in d.url]
    asyncio.run(forget(twin, first.url))

    async def reindex_stale_reads() -> None:
        async with twin.ingestor() as ingestor:
            result = await ingestor.reindex(iter([first.document, second.document]))
        assert (result.removed, result.unchanged) == (1, 1)

    asyncio.run(reindex_stale_reads())
    assert twin.warehouse.get_document(first.id) is None
    assert first.id not in twin.index.document_ids()
    assert compare(twin.warehouse, twin.index).ok


def test_a_forget_without_the_index_is_never_found_and_dropped_at_the_next_open(
    twin: Twin, caplog: pytest.LogCaptureFixture
) -> None:
    """`llm-twin forget` without a bot removes from the warehouse alone (the index is not
    opened): a search skips the document's chunks at once, and the index's next open drops
    them, quietly (a routine mend, not a fault)."""
    post = SAMPLE / "03-on-call.md"
    [on_call] = [d for d in twin.warehouse.iter_documents() if d.url == post.as_uri()]
    query = "runbook at 3 a.m. on call"
    assert asyncio.run(twin.search(query))[0].chunk.document_id == on_call.id
    assert twin.forget(post.as_uri()) == [on_call.id]
    assert on_call.id in twin.index.document_ids()  # still there: checked before the forget
    hits = asyncio.run(twin.search(query, k=10))
    assert hits and on_call.id not in {hit.chunk.document_id for hit in hits}
    again = reopened(twin)
    try:
        with caplog.at_level(logging.INFO, logger="bot.index_health"):
            _ = again.index
            again.health.wait()
        assert [r.levelname for r in caplog.records] == ["INFO", "INFO"], caplog.text
        assert again.health.mended is not None and again.health.mended.dropped == 1
        assert on_call.id not in again.index.document_ids()
        assert compare(again.warehouse, again.index).ok
    finally:
        again.close()


def test_chat_search_says_the_index_is_being_rebuilt(twin: Twin) -> None:
    """The mend cannot write while another writer holds the lock: a search answers from
    what the index holds, and says it is being rebuilt; once the lock is free, the mend
    ends and the index is whole."""
    lancedb.connect(twin.config.index_path).drop_table("chunks")
    twin.close()
    url = twin.config.warehouse_url
    with write_lock_held(url) as release:
        said = asyncio.run(chat_says(url, "search sqlite backups", then=release))
    assert said.startswith("⚠️ Note: the index is being rebuilt from the warehouse (0 of 6")
    assert said.endswith("No matches.")
    assert_whole(twin)


def test_cli_search_says_the_index_is_being_rebuilt(twin: Twin, twin_home: Path) -> None:
    lancedb.connect(twin.config.index_path).drop_table("chunks")
    twin.close()
    url = twin.config.warehouse_url
    with write_lock_held(url):
        command = [sys.executable, "-m", "bot", "--local", "--set", f"warehouse.url={url}"]
        cli = subprocess.Popen(
            [*command, "search", "sqlite backups"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "TWIN_HOME": str(twin_home)},
        )
        assert cli.stderr is not None
        note = next(line for line in iter(cli.stderr.readline, "") if "note: " in line)
        assert note.startswith("note: the index is being rebuilt from the warehouse (0 of 6")
    out, err = cli.communicate(timeout=120)
    assert cli.returncode == 0, err
    assert out.startswith("no matches")  # searched before the mend; it ended before exit
    assert_whole(twin)


def assert_whole(twin: Twin) -> None:
    mended = Twin(twin.config)
    try:
        _ = mended.index
        mended.health.wait()  # anything left, mended on open
        assert mended.health.mending is None  # nothing was left
        assert compare(mended.warehouse, mended.index).ok
        assert search_urls(mended, "sqlite backups")[0].endswith("04-sqlite-is-enough.md")
    finally:
        mended.close()


def test_cli_search_through_a_running_bot_says_the_index_is_being_rebuilt(
    twin: Twin, twin_home: Path
) -> None:
    """The command goes to the bot serving this home, whose index is being mended."""
    from tests.chat_support import SHORT_DRAFTS
    from tests.serve_support import running_serve

    lancedb.connect(twin.config.index_path).drop_table("chunks")
    twin.close()
    url = twin.config.warehouse_url
    # The lock is held while the bot starts and the command runs: its mend waits it out.
    settings = {
        **SHORT_DRAFTS,  # what running_serve sets: the command must match the bot's settings
        "warehouse.url": url,
        "schedules.enabled": "false",
        "warehouse.lock_timeout": "600",
    }
    with write_lock_held(url) as release, running_serve(None, settings):
        flags = [arg for key, value in settings.items() for arg in ("--set", f"{key}={value}")]
        env = {k: v for k, v in os.environ.items() if k != "TWIN_LOCAL"}
        done = subprocess.run(
            [sys.executable, "-m", "bot", "-v", *flags, "search", "sqlite backups"],
            capture_output=True,
            text=True,
            env={**env, "TWIN_HOME": str(twin_home)},
            timeout=300,
        )
        release()  # before the bot stops: its mend ends, and the index is whole
    assert done.returncode == 0, done.stderr
    assert "sending the command to the bot" in done.stderr
    assert "searching here" not in done.stderr
    assert "note: the index is being rebuilt from the warehouse (0 of 6" in done.stderr
    assert_whole(twin)
