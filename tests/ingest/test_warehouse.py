"""The warehouse against SQLite and PostgreSQL (the `warehouse_url` fixture's two legs)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from core.errors import StorageError
from ingest.document import Document
from ingest.warehouse.migrations import MIGRATIONS_TABLE, Migration, run_migrations
from ingest.warehouse.schema import INGEST_MIGRATIONS
from ingest.warehouse.store import Warehouse
from tests.postgres_server import free_port

INGEST_NAMES = [m.name for m in INGEST_MIGRATIONS]


@pytest.fixture
def warehouse(warehouse_url: str) -> Iterator[Warehouse]:
    with Warehouse(warehouse_url) as wh:
        yield wh


def make_doc(n: int, text: str = "body", **fields: Any) -> Document:
    return Document(
        url=f"https://blog.example/posts/{n}",
        platform="blog",
        title=f"Post {n}",
        text=f"{text} {n}",
        author="Ada",
        **fields,
    )


def recorded(engine: sa.Engine) -> list[str]:
    with engine.connect() as conn:
        return sorted(conn.scalars(sa.text(f"SELECT name FROM {MIGRATIONS_TABLE}")))


def create_table(name: str) -> Migration:
    def apply(conn: sa.Connection) -> None:
        conn.exec_driver_sql(f"CREATE TABLE {name} (id INTEGER PRIMARY KEY)")

    return Migration(f"test.{name}", apply)


# --- migrations ---------------------------------------------------------------------------


def test_migrations_are_applied_once_recorded_and_appended_alone(warehouse_url: str) -> None:
    with Warehouse(warehouse_url) as first:
        assert recorded(first.engine) == INGEST_NAMES
        assert first.migrate() == []
    with Warehouse(warehouse_url) as again:
        assert again.migrate() == []
        assert recorded(again.engine) == INGEST_NAMES
        later = [*INGEST_MIGRATIONS, create_table("extra_0002")]
        assert run_migrations(again.engine, later) == ["test.extra_0002"]
        assert run_migrations(again.engine, later) == []
        assert recorded(again.engine) == sorted([*INGEST_NAMES, "test.extra_0002"])
        assert sa.inspect(again.engine).has_table("extra_0002")


def test_a_failing_migration_rolls_back_alone(warehouse: Warehouse) -> None:
    def half_done(conn: sa.Connection) -> None:
        conn.exec_driver_sql("CREATE TABLE half_done (id INTEGER PRIMARY KEY)")
        raise RuntimeError("boom")

    steps = [create_table("before_0001"), Migration("test.half_done", half_done)]
    with pytest.raises(RuntimeError, match="boom"):
        run_migrations(warehouse.engine, steps)
    assert "test.before_0001" in recorded(warehouse.engine)
    assert "test.half_done" not in recorded(warehouse.engine)
    assert not sa.inspect(warehouse.engine).has_table("half_done")  # DDL rolled back too


def test_migration_names_must_be_unique(tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with pytest.raises(ValueError, match=r"repeated: test\.a"):
        run_migrations(engine, [create_table("a"), create_table("a")])
    engine.dispose()


def test_concurrent_runners_apply_each_migration_once(warehouse_url: str) -> None:
    """Runner A is inside a migration when runner B starts: B must wait, then apply only
    what A has not (on SQLite the runners take turns per migration)."""
    inside, release, b_waiting = threading.Event(), threading.Event(), threading.Event()

    def slow(conn: sa.Connection) -> None:
        inside.set()
        assert release.wait(10)
        conn.exec_driver_sql("CREATE TABLE slow_0001 (id INTEGER PRIMARY KEY)")

    steps = [Migration("test.slow_0001", slow), create_table("fast_0002")]
    wh_a, wh_b = Warehouse(warehouse_url), Warehouse(warehouse_url)
    engine_a, engine_b = wh_a.engine, wh_b.engine

    @sa.event.listens_for(engine_b, "before_cursor_execute")
    def lock_wait(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "BEGIN IMMEDIATE" in statement or "pg_advisory_lock" in statement:
            b_waiting.set()

    with ThreadPoolExecutor(2) as pool:
        a = pool.submit(run_migrations, engine_a, steps)
        assert inside.wait(10)
        b = pool.submit(run_migrations, engine_b, steps)
        assert b_waiting.wait(10)
        release.set()
        applied_a, applied_b = a.result(timeout=30), b.result(timeout=30)
    assert applied_a[0] == "test.slow_0001"
    assert sorted(applied_a + applied_b) == ["test.fast_0002", "test.slow_0001"]
    assert recorded(engine_a) == sorted([*INGEST_NAMES, "test.fast_0002", "test.slow_0001"])
    wh_a.close()
    wh_b.close()


def test_warehouses_opened_at_once_migrate_safely(warehouse_url: str) -> None:
    start = threading.Barrier(4)

    def open_one() -> list[str]:
        start.wait(10)
        with Warehouse(warehouse_url) as wh:
            return recorded(wh.engine)

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: open_one(), range(4)))
    assert results == [INGEST_NAMES] * 4


# --- sources ------------------------------------------------------------------------------


def test_sources_are_added_idempotently_and_listed_with_counts(warehouse: Warehouse) -> None:
    feed = warehouse.add_source("https://blog.example/feed", "blog")
    assert (feed.status, feed.documents, feed.last_crawl_at) == ("new", 0, None)
    assert warehouse.add_source("https://blog.example/feed", "other") == feed
    assert warehouse.get_source("https://nowhere.example/") is None
    with warehouse.transaction() as tx:
        for n in range(3):
            tx.upsert_document(make_doc(n), source_url=feed.url)
        tx.upsert_document(make_doc(9), source_url="https://blog.example/posts/9")
    listed = warehouse.list_sources()
    assert [(s.url, s.documents) for s in listed] == [
        ("https://blog.example/feed", 3),
        ("https://blog.example/posts/9", 1),
    ]
    assert listed[1].platform == "blog"  # created from the document


def test_record_crawl_sets_status_time_and_error(warehouse: Warehouse) -> None:
    url = warehouse.add_source("https://blog.example/feed", "blog").url
    warehouse.record_crawl(url, error="HTTP 503")
    failed = warehouse.get_source(url)
    assert failed is not None and (failed.status, failed.last_error) == ("error", "HTTP 503")
    warehouse.record_crawl(url, error=None)
    ok = warehouse.get_source(url)
    assert ok is not None and (ok.status, ok.last_error) == ("ok", None)
    assert ok.last_crawl_at is not None and ok.last_crawl_at >= failed.last_crawl_at  # type: ignore[operator]
    with pytest.raises(LookupError, match="not a known source"):
        warehouse.record_crawl("https://nowhere.example/", error=None)


# --- documents ----------------------------------------------------------------------------


def test_upsert_reports_new_unchanged_changed(warehouse: Warehouse) -> None:
    doc = make_doc(1)
    assert warehouse.document_state(doc.id) is None
    with warehouse.transaction() as tx:
        assert tx.upsert_document(doc, source_url="https://blog.example/feed") == "new"
    first = warehouse.get_document(doc.id)
    assert first is not None
    assert (first.url, first.title, first.text, first.author) == (
        doc.url,
        "Post 1",
        "body 1",
        "Ada",
    )
    assert first.source_url == "https://blog.example/feed"
    assert first.content_hash == doc.content_hash == warehouse.document_state(doc.id)
    assert first.document == replace(doc, source_url="https://blog.example/feed")

    with warehouse.transaction() as tx:
        assert tx.upsert_document(doc, source_url="https://blog.example/feed") == "unchanged"
    assert warehouse.get_document(doc.id) == first

    edited = make_doc(1, text="edited")
    with warehouse.transaction() as tx:
        assert tx.upsert_document(edited, source_url="https://blog.example/feed") == "changed"
    second = warehouse.find_document_by_url(doc.url)
    assert second is not None and second.text == "edited 1"
    assert second.content_hash == edited.content_hash
    assert second.created_at == first.created_at and second.updated_at >= first.updated_at
    assert warehouse.count_documents() == 1
    assert warehouse.find_document_by_url("https://nowhere.example/") is None


def test_concurrent_upserts_of_one_document_store_it_once(warehouse: Warehouse) -> None:
    start = threading.Barrier(4)

    def upsert(_: int) -> str:
        start.wait(10)
        with warehouse.transaction() as tx:
            return tx.upsert_document(make_doc(1), source_url="https://blog.example/feed")

    with ThreadPoolExecutor(4) as pool:
        outcomes = sorted(pool.map(upsert, range(4)))
    assert outcomes == ["new", "unchanged", "unchanged", "unchanged"]
    assert [s.documents for s in warehouse.list_sources()] == [1]


def test_a_failing_block_rolls_everything_back(warehouse: Warehouse) -> None:
    kept = make_doc(1)
    with warehouse.transaction() as tx:
        tx.upsert_document(kept, source_url="https://blog.example/feed")
    with pytest.raises(RuntimeError, match="index write failed"), warehouse.transaction() as tx:
        assert tx.upsert_document(make_doc(2), source_url="https://new.example/") == "new"
        assert tx.upsert_document(make_doc(1, text="edited")) == "changed"
        assert tx.delete_document(kept.id) is True
        raise RuntimeError("index write failed")
    assert warehouse.document_state(make_doc(2).id) is None
    assert warehouse.get_source("https://new.example/") is None
    assert warehouse.document_state(kept.id) == kept.content_hash
    assert [s.url for s in warehouse.list_sources()] == ["https://blog.example/feed"]


def test_delete_document_keeps_its_source(warehouse: Warehouse) -> None:
    with warehouse.transaction() as tx:
        tx.upsert_document(make_doc(1), source_url="https://blog.example/feed")
    with warehouse.transaction() as tx:
        assert tx.delete_document(make_doc(1).id) is True
        assert tx.delete_document(make_doc(1).id) is False
    assert warehouse.count_documents() == 0
    assert [s.documents for s in warehouse.list_sources()] == [0]


# --- forget -------------------------------------------------------------------------------


def _seed(warehouse: Warehouse) -> tuple[list[str], str]:
    feed_ids = []
    with warehouse.transaction() as tx:
        for n in range(3):
            tx.upsert_document(make_doc(n), source_url="https://blog.example/feed")
            feed_ids.append(make_doc(n).id)
        tx.upsert_document(make_doc(7), source_url="https://other.example/")
    return sorted(feed_ids), make_doc(7).id


def test_forget_a_source_removes_it_and_its_documents(warehouse: Warehouse) -> None:
    feed_ids, other_id = _seed(warehouse)
    assert warehouse.documents_under("https://blog.example/feed") == feed_ids
    assert warehouse.forget("https://blog.example/feed") == feed_ids
    assert warehouse.get_source("https://blog.example/feed") is None
    assert [d.id for d in warehouse.iter_documents()] == [other_id]
    assert warehouse.forget("https://blog.example/feed") == []


def test_forget_a_document_keeps_its_source(warehouse: Warehouse) -> None:
    _seed(warehouse)
    url = make_doc(1).url
    assert warehouse.documents_under(url) == [make_doc(1).id]
    assert warehouse.forget(url) == [make_doc(1).id]
    feed = warehouse.get_source("https://blog.example/feed")
    assert feed is not None and feed.documents == 2
    assert warehouse.forget("https://nowhere.example/") == []
    assert warehouse.count_documents() == 3


def test_deleting_a_source_row_cascades_to_its_documents(warehouse: Warehouse) -> None:
    _seed(warehouse)
    with warehouse.engine.begin() as conn:  # foreign keys are enforced (PRAGMA on SQLite)
        conn.exec_driver_sql("DELETE FROM sources WHERE url = 'https://other.example/'")
    assert warehouse.count_documents() == 3


# --- reading ------------------------------------------------------------------------------


def test_iter_documents_streams_in_batches(warehouse: Warehouse) -> None:
    with warehouse.transaction() as tx:
        for n in range(7):
            tx.upsert_document(make_doc(n), source_url="https://blog.example/feed")
    reads: list[str] = []

    @sa.event.listens_for(warehouse.engine, "before_cursor_execute")
    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "FROM documents" in statement:
            reads.append(statement)

    stream = warehouse.iter_documents(batch_size=3)
    first = next(stream)
    assert len(reads) == 1  # one page read, not the table
    pool: Any = warehouse.engine.pool
    assert pool.checkedout() == 0  # and no connection held between pages
    rest = list(stream)
    assert len(reads) == 3
    assert [d.id for d in [first, *rest]] == sorted(make_doc(n).id for n in range(7))
    assert all(d.source_url == "https://blog.example/feed" for d in rest)
    assert warehouse.count_documents() == 7
    with pytest.raises(ValueError, match="batch_size"):
        next(warehouse.iter_documents(batch_size=0))


def test_documents_created_reads_a_window_of_first_stored_newest_first(
    warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = datetime(2025, 6, 2, 9, 0, tzinfo=UTC)
    clock = [base]
    monkeypatch.setattr("ingest.warehouse.transaction.now_utc", lambda: clock[0])
    for n in range(1, 5):  # post n is first stored at base + n hours
        clock[0] = base + timedelta(hours=n)
        with warehouse.transaction() as tx:
            tx.upsert_document(make_doc(n), source_url="https://blog.example/feed")

    def window(after_h: float, until_h: float, limit: int = 10) -> list[str]:
        after, until = base + timedelta(hours=after_h), base + timedelta(hours=until_h)
        return [d.title for d in warehouse.documents_created(after, until, limit=limit)]

    # (after, until]: the document stored exactly at `after` is the previous window's.
    assert window(1, 3) == ["Post 3", "Post 2"]
    assert window(0, 4) == ["Post 4", "Post 3", "Post 2", "Post 1"]
    assert window(0, 4, limit=2) == ["Post 4", "Post 3"]
    assert window(4, 9) == []
    [read] = warehouse.documents_created(base, base + timedelta(hours=1), limit=5)
    assert read == warehouse.get_document(make_doc(1).id)
    assert read.source_url == "https://blog.example/feed"
    # Another zone names the same instant; a naive datetime is taken as UTC.
    after = (base + timedelta(hours=2)).astimezone(timezone(timedelta(hours=9)))
    until = (base + timedelta(hours=3)).replace(tzinfo=None)
    assert [d.title for d in warehouse.documents_created(after, until, limit=5)] == ["Post 3"]

    # An edit later keeps the first `created_at`: it stays in its first window.
    clock[0] = base + timedelta(hours=6)
    with warehouse.transaction() as tx:
        edited = make_doc(2, text="edited")
        assert tx.upsert_document(edited, source_url="https://blog.example/feed") == "changed"
    assert window(4, 9) == []
    assert window(1, 2) == ["Post 2"]
    with pytest.raises(ValueError, match="limit must be at least 1"):
        warehouse.documents_created(base, base, limit=0)


def test_datetimes_come_back_aware_utc(warehouse_url: str) -> None:
    published = datetime(2024, 5, 1, 9, 30, tzinfo=timezone(timedelta(hours=2)))
    fetched_naive_utc = datetime(2024, 5, 2, 12, 0)
    doc = make_doc(1, published_at=published, fetched_at=fetched_naive_utc)
    with Warehouse(warehouse_url) as wh:
        with wh.transaction() as tx:
            tx.upsert_document(doc, source_url="https://blog.example/feed")
        wh.record_crawl("https://blog.example/feed", error=None)
    # On PostgreSQL, read through a session in another time zone too.
    urls = [warehouse_url]
    if warehouse_url.startswith("postgresql"):
        parsed = sa.make_url(warehouse_url)
        options = f"{parsed.query.get('options', '')} -ctimezone=Asia/Tokyo".strip()
        urls.append(parsed.update_query_dict({"options": options}).render_as_string(False))
    for url in urls:
        with Warehouse(url) as wh:
            stored = wh.get_document(doc.id)
            source = wh.get_source("https://blog.example/feed")
        assert stored is not None and source is not None
        assert stored.published_at == published
        assert stored.fetched_at == fetched_naive_utc.replace(tzinfo=UTC)
        stamps: list[datetime | None] = [
            stored.published_at,
            stored.fetched_at,
            stored.created_at,
            stored.updated_at,
        ]
        stamps += [source.added_at, source.last_crawl_at]
        assert all(s is not None and s.tzinfo is UTC for s in stamps), stamps


# --- opening ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://twin:s3cret-pw@127.0.0.1:{port}/twin", "check that the server is running"),
        ("mysql://twin:s3cret-pw@db.example/twin", "unsupported database 'mysql'"),
        ("not a url at all", "not a database URL"),
        ("sqlite://", "unsupported in-memory database"),
    ],
    ids=["unreachable-postgres", "unsupported-backend", "garbage", "sqlite-in-memory"],
)
def test_a_bad_url_raises_storage_error_with_the_password_masked(url: str, expected: str) -> None:
    url = url.format(port=free_port())
    with pytest.raises(StorageError) as caught:
        Warehouse(url)
    message = str(caught.value)
    assert expected in message
    assert "s3cret-pw" not in message
    if "@" in url:
        assert "twin:***@" in message


def test_an_unusable_sqlite_path_raises_storage_error(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder, not a database")
    with pytest.raises(StorageError, match=f"{blocker} is a file, not a folder"):
        Warehouse(f"sqlite:///{blocker / 'warehouse.db'}")
    with pytest.raises(StorageError, match="file is not a database"):
        Warehouse(f"sqlite:///{blocker}")


def test_count_documents_of_own_writing_since(warehouse: Warehouse) -> None:
    with warehouse.transaction() as tx:
        tx.upsert_document(make_doc(1))
        tx.upsert_document(make_doc(2, owned=True))
        tx.upsert_document(make_doc(3, owned=False))  # a repost
        tx.upsert_document(make_doc(4, meta={"kind": "code", "verbatim": "1"}))
        tx.upsert_document(make_doc(5, meta={"kind": "docs"}))
    assert warehouse.count_documents() == 5
    assert warehouse.count_documents(own_writing=True) == 3
    later = datetime.now(UTC) + timedelta(seconds=1)
    assert warehouse.count_documents(created_after=later, own_writing=True) == 0
