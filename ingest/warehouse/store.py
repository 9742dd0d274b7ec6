"""The warehouse: sources and documents in SQLite (default) or PostgreSQL.

It is the source of truth; the vector index is derived from it. Writes that must agree
with the index go through one unit of work, so the caller can put the index write inside
the warehouse transaction and a failure leaves neither behind:

    with warehouse.transaction() as tx:
        outcome = tx.upsert_document(document, source_url=source_url)
        index.replace_documents(chunks_by_document)

Database errors surface as `StorageError`s that name the (password-masked) URL and what
to check; programming errors (integrity, SQL) propagate as they are.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

import sqlalchemy as sa
from sqlalchemy import Connection, Engine
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import sqlite

from core.errors import StorageError
from ingest.document import Document
from ingest.warehouse.engine import create_engine, mask_url
from ingest.warehouse.migrations import run_migrations
from ingest.warehouse.schema import (
    INGEST_MIGRATIONS,
    Source,
    SourceStatus,
    StoredDocument,
    documents,
    documents_with_source,
    source_from_row,
    sources,
    sources_with_counts,
    stored_document_from_row,
)

if TYPE_CHECKING:
    from sqlalchemy.dialects import postgresql

__all__ = ["Source", "StoredDocument", "UpsertOutcome", "Warehouse", "WarehouseTransaction"]

UpsertOutcome = Literal["new", "changed", "unchanged"]
_Guard = Callable[[str], AbstractContextManager[None]]


class Warehouse:
    """Opens (and migrates) the database at `url`: `sqlite:///path/to/warehouse.db` or
    `postgresql://user:password@host:port/dbname`. Safe to share between threads."""

    def __init__(self, url: str) -> None:
        self.safe_url = mask_url(url)
        self._url, self._engine = create_engine(url, self.safe_url)
        self._writer = self._engine.execution_options(twin_write=True)
        try:
            with self._guard("opening it"):
                run_migrations(self._engine, INGEST_MIGRATIONS)
        except BaseException:
            self._engine.dispose()
            raise

    @property
    def engine(self) -> Engine:
        """For packages that keep their own tables in the same database."""
        return self._engine

    @property
    def writer(self) -> Engine:
        """The engine for write transactions (on SQLite they take the write lock up front)."""
        return self._writer

    def guard(self, action: str) -> AbstractContextManager[None]:
        """Turns driver errors into a `StorageError` that says what to check."""
        return self._guard(action)

    def migrate(self) -> list[str]:
        """Apply the ingest migrations not yet applied; return their names."""
        with self._guard("applying migrations"):
            return run_migrations(self._engine, INGEST_MIGRATIONS)

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> Warehouse:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Warehouse({self.safe_url!r})"

    # --- sources ------------------------------------------------------------------------

    def add_source(self, url: str, platform: str) -> Source:
        """The source for `url`, created if missing. Its platform follows the documents
        stored under it ("mixed" for a folder of several platforms' writing), and is
        `platform` only while it holds none."""
        with self._guard("adding a source"), self._writer.begin() as conn:
            source_id = _ensure_source(conn, url, platform)
            held = conn.scalars(
                sa.select(documents.c.platform).where(documents.c.source_id == source_id).distinct()
            ).all()
            if held:
                platform = held[0] if len(held) == 1 else "mixed"
                conn.execute(
                    sa.update(sources).where(sources.c.id == source_id).values(platform=platform)
                )
            source = _read_source(conn, url)
        assert source is not None  # just ensured, in the same transaction
        return source

    def get_source(self, url: str) -> Source | None:
        with self._guard("reading a source"), self._engine.connect() as conn:
            return _read_source(conn, url)

    def list_sources(self) -> list[Source]:
        """Every source, oldest first, each with its document count."""
        with self._guard("listing sources"), self._engine.connect() as conn:
            return [source_from_row(row) for row in conn.execute(sources_with_counts())]

    def record_crawl(
        self,
        url: str,
        *,
        error: str | None,
        state: Mapping[str, Any] | None = None,
        owner: str | None = None,
    ) -> None:
        """Record that `url` was just crawled, successfully (`error=None`) or not, with
        what the crawl saw (`state`, handed back next time) and whose writing it is."""
        status: SourceStatus = "ok" if error is None else "error"
        values: dict[str, Any] = {"last_crawl_at": _now(), "status": status, "last_error": error}
        if state is not None:
            values["state"] = json.dumps(dict(state), sort_keys=True, default=str)
        if owner:
            values["owner"] = owner
        with self._guard("recording a crawl"), self._writer.begin() as conn:
            result = conn.execute(sa.update(sources).where(sources.c.url == url).values(values))
            if result.rowcount == 0:
                raise LookupError(f"{url}: not a known source; add_source() it first")

    # --- documents ----------------------------------------------------------------------

    def document_state(self, doc_id: str) -> str | None:
        """The stored content hash of a document, or None when it is not stored."""
        with self._guard("reading a document"), self._engine.connect() as conn:
            query = sa.select(documents.c.content_hash).where(documents.c.id == doc_id)
            return conn.execute(query).scalar_one_or_none()

    def get_document(self, doc_id: str) -> StoredDocument | None:
        return self._one_document(documents.c.id == doc_id)

    def find_document_by_url(self, url: str) -> StoredDocument | None:
        return self._one_document(documents.c.url == url)

    def count_documents(
        self, *, created_after: datetime | None = None, own_writing: bool = False
    ) -> int:
        """Documents stored (after `created_after`); with `own_writing`, only prose not
        marked as someone else's: what the training dataset can use."""
        query = sa.select(sa.func.count()).select_from(documents)
        if created_after is not None:
            query = query.where(documents.c.created_at > created_after)
        if own_writing:
            query = query.where(
                sa.or_(documents.c.owned.is_(None), documents.c.owned.is_(True)),
                # meta is written with json.dumps(sort_keys=True): this is its spelling
                ~documents.c.meta.contains('"kind": "code"'),
            )
        with self._guard("counting documents"), self._engine.connect() as conn:
            return conn.execute(query).scalar_one()

    def iter_documents(self, batch_size: int = 500) -> Iterator[StoredDocument]:
        """Every document, in id order, read `batch_size` rows at a time (keyset pages,
        no connection held between them, so writers are never blocked by a slow reader)."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, not {batch_size}")
        after = ""
        while True:
            with self._guard("reading documents"), self._engine.connect() as conn:
                query = documents_with_source().where(documents.c.id > after)
                rows = conn.execute(query.order_by(documents.c.id).limit(batch_size)).all()
            yield from (stored_document_from_row(row) for row in rows)
            if len(rows) < batch_size:
                return
            after = rows[-1].id

    def documents_created(
        self, after: datetime, until: datetime, *, limit: int
    ) -> list[StoredDocument]:
        """Documents first stored in the window (`after`, `until`], newest first (ties by
        id), at most `limit`. A document changed later keeps its first `created_at`, so a
        recrawl that edits it does not bring it back into a later window."""
        if limit < 1:
            raise ValueError(f"limit must be at least 1, not {limit}")
        created = documents.c.created_at
        query = (
            documents_with_source()
            .where(created > after, created <= until)
            .order_by(created.desc(), documents.c.id)
            .limit(limit)
        )
        with self._guard("reading documents"), self._engine.connect() as conn:
            return [stored_document_from_row(row) for row in conn.execute(query)]

    def source_documents(self, url: str) -> dict[str, Mapping[str, str]]:
        """The documents stored under the source `url`: their url -> `Document.meta`."""
        with self._guard("reading documents"), self._engine.connect() as conn:
            query = (
                sa.select(documents.c.url, documents.c.meta)
                .join_from(documents, sources, documents.c.source_id == sources.c.id)
                .where(sources.c.url == url)
            )
            return {row.url: json.loads(row.meta) for row in conn.execute(query)}

    def documents_under(self, url: str) -> list[str]:
        """The ids `forget(url)` would remove, without removing anything."""
        with self._guard("reading documents"), self._engine.connect() as conn:
            source_id = conn.scalar(sa.select(sources.c.id).where(sources.c.url == url))
            return sorted(conn.scalars(sa.select(documents.c.id).where(_under(url, source_id))))

    # --- writes -------------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[WarehouseTransaction]:
        """A unit of work: committed when the block ends, rolled back if it raises. On
        SQLite it holds the write lock from the start, so use only `tx` inside it."""
        with self._guard("starting a transaction"):
            conn = self._writer.connect()
        with conn:  # closing returns it to the pool, rolled back if still open
            with self._guard("starting a transaction"):
                root = conn.begin()
            try:
                yield WarehouseTransaction(conn, self._guard)
            except BaseException:
                with contextlib.suppress(Exception):  # the block's error is the one to raise
                    root.rollback()
                raise
            with self._guard("committing"):
                root.commit()

    def forget(self, url: str) -> list[str]:
        """Remove what `url` names: a source (with all its documents) and/or a document
        (its source stays). Returns the removed document ids, sorted; unknown → []. The
        warehouse alone: `Ingestor.forget` removes the chunks with it."""
        with self.transaction() as tx:
            return tx.forget(url)

    # --- internals ----------------------------------------------------------------------

    def _one_document(self, where: sa.ColumnElement[bool]) -> StoredDocument | None:
        with self._guard("reading a document"), self._engine.connect() as conn:
            row = conn.execute(documents_with_source().where(where)).first()
            return None if row is None else stored_document_from_row(row)

    @contextmanager
    def _guard(self, action: str) -> Iterator[None]:
        try:
            yield
        except (sa_exc.IntegrityError, sa_exc.ProgrammingError):
            raise  # our bug or a concurrent delete, not a storage failure
        except (sa_exc.DBAPIError, sa_exc.TimeoutError) as exc:
            raise StorageError(self._explain(action, exc)) from exc

    def _explain(self, action: str, exc: Exception) -> str:
        orig = getattr(exc, "orig", None) or exc
        reason = (str(orig).strip().splitlines() or [type(orig).__name__])[0]
        if self._url.password:
            reason = reason.replace(str(self._url.password), "***")
        if self._engine.dialect.name == "sqlite":
            check = "check that its folder is writable and that no other program locks the file"
        else:
            check = (
                "check that the server is running and reachable from here, and that the user, "
                "password and database name in the URL (the warehouse.url setting) are right"
            )
        return f"warehouse {self.safe_url}: {action} failed ({reason}); {check}"


class WarehouseTransaction:
    """The writes that go with an index write; see `Warehouse.transaction`."""

    def __init__(self, conn: Connection, guard: _Guard) -> None:
        self._conn = conn
        self._guard = guard

    def upsert_document(
        self, document: Document, *, source_url: str | None = None
    ) -> UpsertOutcome:
        """Store `document` under `source_url` (default: its own `source_url`, else its
        url), creating the source row if missing. 'unchanged' (same content hash) writes
        nothing; 'changed' replaces the stored fields and moves it to this source."""
        conn, now = self._conn, _now()
        with self._guard("storing a document"):
            source_id = _ensure_source(
                conn, source_url or document.source_url or document.url, document.platform
            )
            values = {
                "source_id": source_id,
                "url": document.url,
                "platform": document.platform,
                "author": document.author,
                "title": document.title,
                "published_at": document.published_at,
                "fetched_at": document.fetched_at,
                "text": document.text,
                "content_hash": document.content_hash,
                "updated_at": now,
                "owned": document.owned,
                "meta": json.dumps(dict(document.meta), sort_keys=True),
            }
            find = (
                sa.select(documents.c.content_hash)
                .where(documents.c.id == document.id)
                .with_for_update()
            )
            stored = conn.scalar(find)
            if stored is None:
                insert = _insert(conn, documents).values(id=document.id, created_at=now, **values)
                if conn.scalar(insert.on_conflict_do_nothing().returning(documents.c.id)):
                    return "new"
                stored = conn.scalar(find)  # a concurrent writer stored it first
            if stored == document.content_hash:
                return "unchanged"
            conn.execute(sa.update(documents).where(documents.c.id == document.id).values(values))
            return "changed"

    def forget(self, url: str) -> list[str]:
        """See `Warehouse.forget`."""
        conn = self._conn
        with self._guard("forgetting"):
            source_id = conn.scalar(
                sa.select(sources.c.id).where(sources.c.url == url).with_for_update()
            )
            removed = sorted(
                conn.scalars(
                    sa.delete(documents).where(_under(url, source_id)).returning(documents.c.id)
                )
            )
            if source_id is not None:
                conn.execute(sa.delete(sources).where(sources.c.id == source_id))
            return removed

    def delete_document(self, doc_id: str) -> bool:
        """Remove one document (its source stays); False when it was not stored."""
        with self._guard("deleting a document"):
            result = self._conn.execute(sa.delete(documents).where(documents.c.id == doc_id))
            return result.rowcount > 0


def _now() -> datetime:
    return datetime.now(UTC)


def _insert(conn: Connection, table: sa.Table) -> postgresql.Insert | sqlite.Insert:
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects import postgresql  # its drivers' modules load with it

        return postgresql.insert(table)
    return sqlite.insert(table)


def _ensure_source(conn: Connection, url: str, platform: str) -> int:
    """The id of the source row for `url`, inserted if missing (safe under concurrency:
    a racing insert of the same url waits for ours and then does nothing)."""
    find = sa.select(sources.c.id).where(sources.c.url == url)
    if (found := conn.scalar(find)) is not None:
        return int(found)
    conn.execute(
        _insert(conn, sources)
        .values(url=url, platform=platform, added_at=_now(), status="new")
        .on_conflict_do_nothing()
    )
    return int(conn.execute(find).scalar_one())


def _under(url: str, source_id: int | None) -> sa.ColumnElement[bool]:
    if source_id is None:
        return documents.c.url == url
    return sa.or_(documents.c.url == url, documents.c.source_id == source_id)


def _read_source(conn: Connection, url: str) -> Source | None:
    row = conn.execute(sources_with_counts().where(sources.c.url == url)).first()
    return None if row is None else source_from_row(row)
