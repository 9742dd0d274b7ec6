"""The unit of work of the warehouse (`Warehouse.transaction`): the writes that must agree
with an index write, inside one transaction that holds the database's write lock."""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal

import sqlalchemy as sa
from sqlalchemy import Connection
from sqlalchemy.dialects import sqlite

from ingest.document import Document
from ingest.warehouse.schema import documents, sources

if TYPE_CHECKING:  # the PostgreSQL dialect loads its drivers' modules: only when used
    from sqlalchemy.dialects import postgresql

UpsertOutcome = Literal["new", "changed", "unchanged"]
Guard = Callable[[str], AbstractContextManager[None]]


class WarehouseTransaction:
    """The writes that go with an index write; see `Warehouse.transaction`."""

    def __init__(self, conn: Connection, guard: Guard) -> None:
        self._conn = conn
        self._guard = guard

    def upsert_document(
        self, document: Document, *, source_url: str | None = None
    ) -> UpsertOutcome:
        """Store `document` under `source_url` (default: its own `source_url`, else its
        url), creating the source row if missing. 'unchanged' (same content hash) writes
        nothing; 'changed' replaces the stored fields and moves it to this source."""
        conn, now = self._conn, now_utc()
        with self._guard("storing a document"):
            source_id = ensure_source(
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
                insert = insert_into(conn, documents).values(
                    id=document.id, created_at=now, **values
                )
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
                    sa.delete(documents).where(under(url, source_id)).returning(documents.c.id)
                )
            )
            if source_id is not None:
                conn.execute(sa.delete(sources).where(sources.c.id == source_id))
            return removed

    def stored_hash(self, doc_id: str) -> str | None:
        """The content hash of a stored document (None: not stored), locked until the
        transaction ends."""
        with self._guard("reading a document"):
            query = sa.select(documents.c.content_hash).where(documents.c.id == doc_id)
            return self._conn.scalar(query.with_for_update())

    def delete_document(self, doc_id: str) -> bool:
        """Remove one document (its source stays); False when it was not stored."""
        with self._guard("deleting a document"):
            result = self._conn.execute(sa.delete(documents).where(documents.c.id == doc_id))
            return result.rowcount > 0


def now_utc() -> datetime:
    return datetime.now(UTC)


def insert_into(conn: Connection, table: sa.Table) -> postgresql.Insert | sqlite.Insert:
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects import postgresql  # its drivers' modules load with it

        return postgresql.insert(table)
    return sqlite.insert(table)


def ensure_source(conn: Connection, url: str, platform: str) -> int:
    """The id of the source row for `url`, inserted if missing (safe under concurrency:
    a racing insert of the same url waits for ours and then does nothing)."""
    find = sa.select(sources.c.id).where(sources.c.url == url)
    if (found := conn.scalar(find)) is not None:
        return int(found)
    conn.execute(
        insert_into(conn, sources)
        .values(url=url, platform=platform, added_at=now_utc(), status="new")
        .on_conflict_do_nothing()
    )
    return int(conn.execute(find).scalar_one())


def under(url: str, source_id: int | None) -> sa.ColumnElement[bool]:
    if source_id is None:
        return documents.c.url == url
    return sa.or_(documents.c.url == url, documents.c.source_id == source_id)
