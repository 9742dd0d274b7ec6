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
from collections.abc import Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection, Engine
from sqlalchemy import exc as sa_exc

from core.errors import StorageError
from ingest.warehouse.engine import DEFAULT_LOCK_TIMEOUT, create_engine, explain, mask_url
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
from ingest.warehouse.transaction import (
    UpsertOutcome,
    WarehouseTransaction,
    ensure_source,
    now_utc,
    under,
)

__all__ = ["Source", "StoredDocument", "UpsertOutcome", "Warehouse", "WarehouseTransaction"]

# The advisory lock units of work take on PostgreSQL (per database), b"twinwrit".
_WRITE_LOCK_KEY = 0x7477_696E_7772_6974


class Warehouse:
    """Opens (and migrates) the database at `url`: `sqlite:///path/to/warehouse.db` or
    `postgresql://user:password@host:port/dbname`. Safe to share between threads."""

    def __init__(self, url: str, *, lock_timeout: float = DEFAULT_LOCK_TIMEOUT) -> None:
        """`lock_timeout`: how long a write waits for another process's lock, in seconds."""
        self.safe_url = mask_url(url)
        self.lock_timeout = lock_timeout
        self._url, self._engine = create_engine(url, self.safe_url, lock_timeout)
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
            source_id = ensure_source(conn, url, platform)
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
        values: dict[str, Any] = {"last_crawl_at": now_utc(), "status": status, "last_error": error}
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

    def document_ids(self) -> set[str]:
        """The id of every stored document (what the index is checked against)."""
        with self._guard("reading documents"), self._engine.connect() as conn:
            return set(conn.scalars(sa.select(documents.c.id)))

    def stored_ids(self, ids: Iterable[str]) -> set[str]:
        """Those of `ids` that name a stored document (a search's hits are checked
        against it: chunks of a document just forgotten may still be in the index)."""
        wanted = sorted(set(ids))
        if not wanted:
            return set()
        with self._guard("reading documents"), self._engine.connect() as conn:
            return set(conn.scalars(sa.select(documents.c.id).where(documents.c.id.in_(wanted))))

    def documents_by_id(
        self, ids: Iterable[str], batch_size: int = 500
    ) -> Iterator[StoredDocument]:
        """The stored documents among `ids`, read `batch_size` at a time (unknown ids are
        left out)."""
        wanted = sorted(ids)
        for start in range(0, len(wanted), batch_size):
            page = wanted[start : start + batch_size]
            with self._guard("reading documents"), self._engine.connect() as conn:
                query = documents_with_source().where(documents.c.id.in_(page))
                rows = conn.execute(query.order_by(documents.c.id)).all()
            yield from (stored_document_from_row(row) for row in rows)

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
            return sorted(conn.scalars(sa.select(documents.c.id).where(under(url, source_id))))

    # --- writes -------------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[WarehouseTransaction]:
        """A unit of work: committed when the block ends, rolled back if it raises. It
        holds the database's write lock from the start (SQLite's, or on PostgreSQL an
        advisory lock every unit of work takes), so use only `tx` inside it: while one
        is open, no other process has an index write in flight, and a check of the index
        against the warehouse inside one sees both stores at rest."""
        with self._guard("starting a transaction"):
            conn = self._writer.connect()
        with conn:  # closing returns it to the pool, rolled back if still open
            with self._guard("starting a transaction"):
                root = conn.begin()
                if conn.dialect.name == "postgresql":  # SQLite's BEGIN IMMEDIATE, here
                    wait = f"{max(1, int(self.lock_timeout * 1000))}ms"
                    conn.execute(
                        sa.text("SELECT set_config('lock_timeout', :t, true)"), {"t": wait}
                    )
                    conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_WRITE_LOCK_KEY)))
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
        warehouse alone: `Ingestor.forget` removes the chunks with it, or the index's next
        open does (bot/index_health.py)."""
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
            reason = explain(self.safe_url, self._url, self._engine, action, exc, self.lock_timeout)
            raise StorageError(reason) from exc


def _read_source(conn: Connection, url: str) -> Source | None:
    row = conn.execute(sources_with_counts().where(sources.c.url == url)).first()
    return None if row is None else source_from_row(row)
