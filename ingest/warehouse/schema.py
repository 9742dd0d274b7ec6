"""The ingest tables in their current shape, the typed records read from them, and the
migrations that build them.

`sources` and `documents` below describe the schema *now*, for queries. The migrations in
`INGEST_MIGRATIONS` carry their own DDL, frozen at the time each was written: when the
schema changes, edit the tables here and append a migration; never edit an old one.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy import Connection, Dialect
from sqlalchemy.types import TypeDecorator

from ingest.document import Document
from ingest.warehouse.migrations import Migration

SourceStatus = Literal["new", "ok", "error"]


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware timestamp that always comes back as an aware UTC datetime.

    SQLite has no time zones: values are stored as UTC wall time and read back naive, so
    they are converted on the way in and labelled on the way out. PostgreSQL returns
    `timestamptz` in the session's zone, which is converted too. Naive input is taken to
    be UTC already."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else as_utc(value)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else as_utc(value)


def as_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


metadata = sa.MetaData()

sources = sa.Table(
    "sources",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("url", sa.Text, nullable=False, unique=True),
    sa.Column("platform", sa.String(64), nullable=False),
    sa.Column("added_at", UTCDateTime, nullable=False),
    sa.Column("last_crawl_at", UTCDateTime, nullable=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("owner", sa.Text, nullable=False, server_default=""),
    sa.Column("state", sa.Text, nullable=False, server_default="{}"),
)

documents = sa.Table(
    "documents",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column(
        "source_id",
        sa.Integer,
        sa.ForeignKey("sources.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("url", sa.Text, nullable=False, unique=True),
    sa.Column("platform", sa.String(64), nullable=False, index=True),
    sa.Column("author", sa.Text, nullable=False),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("published_at", UTCDateTime, nullable=True),
    sa.Column("fetched_at", UTCDateTime, nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("content_hash", sa.String(64), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("owned", sa.Boolean, nullable=True),
    sa.Column("meta", sa.Text, nullable=False, server_default="{}"),
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Source:
    """An input the owner gave (a profile, a feed, an article link, a local path)."""

    id: int
    url: str
    platform: str
    added_at: datetime
    last_crawl_at: datetime | None
    status: SourceStatus
    last_error: str | None
    documents: int = 0
    owner: str = ""  # whose writing the source is, when it says (an export, a profile)
    state: Mapping[str, Any] = field(default_factory=dict)  # what its last crawl saw


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredDocument:
    """A `Document` as the warehouse holds it, with its identity and bookkeeping."""

    id: str
    url: str
    platform: str
    title: str
    text: str
    author: str
    published_at: datetime | None
    source_url: str
    fetched_at: datetime
    content_hash: str
    created_at: datetime
    updated_at: datetime
    owned: bool | None = None
    meta: Mapping[str, str] = field(default_factory=dict)

    @property
    def document(self) -> Document:
        return Document(
            url=self.url,
            platform=self.platform,
            title=self.title,
            text=self.text,
            author=self.author,
            published_at=self.published_at,
            source_url=self.source_url,
            fetched_at=self.fetched_at,
            owned=self.owned,
            meta=self.meta,
        )


def sources_with_counts() -> sa.Select[tuple[object, ...]]:
    """Sources, oldest first, each with a `documents` count column."""
    count = (
        sa.select(sa.func.count(documents.c.id))
        .where(documents.c.source_id == sources.c.id)
        .scalar_subquery()
    )
    return sa.select(sources, count.label("documents")).order_by(sources.c.id)


def source_from_row(row: sa.Row[tuple[object, ...]]) -> Source:
    """A `Source` from a row of `sources` plus a `documents` count column."""
    m = row._mapping
    return Source(
        id=m["id"],
        url=m["url"],
        platform=m["platform"],
        added_at=m["added_at"],
        last_crawl_at=m["last_crawl_at"],
        status=m["status"],
        last_error=m["last_error"],
        documents=m["documents"],
        owner=m["owner"],
        state=json.loads(m["state"]),
    )


def documents_with_source() -> sa.Select[tuple[object, ...]]:
    """Documents with their source's url as a `source_url` column."""
    return sa.select(documents, sources.c.url.label("source_url")).join_from(
        documents, sources, documents.c.source_id == sources.c.id
    )


def stored_document_from_row(row: sa.Row[tuple[object, ...]]) -> StoredDocument:
    """A `StoredDocument` from a row of `documents` plus a `source_url` column."""
    m = row._mapping
    return StoredDocument(
        id=m["id"],
        url=m["url"],
        platform=m["platform"],
        title=m["title"],
        text=m["text"],
        author=m["author"],
        published_at=m["published_at"],
        source_url=m["source_url"],
        fetched_at=m["fetched_at"],
        content_hash=m["content_hash"],
        created_at=m["created_at"],
        updated_at=m["updated_at"],
        owned=m["owned"],
        meta=json.loads(m["meta"]),
    )


# --- migrations: append only ------------------------------------------------------------


def _0001_sources_documents(conn: Connection) -> None:
    md = sa.MetaData()
    stamp = sa.DateTime(timezone=True)
    sa.Table(
        "sources",
        md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("platform", sa.String(64), nullable=False),
        sa.Column("added_at", stamp, nullable=False),
        sa.Column("last_crawl_at", stamp, nullable=True),
        sa.Column("status", sa.String(16), nullable=False, server_default="new"),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.UniqueConstraint("url", name="uq_sources_url"),
        sa.CheckConstraint("status IN ('new', 'ok', 'error')", name="ck_sources_status"),
    )
    sa.Table(
        "documents",
        md,
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("source_id", sa.Integer, nullable=False),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("platform", sa.String(64), nullable=False),
        sa.Column("author", sa.Text, nullable=False, server_default=""),
        sa.Column("title", sa.Text, nullable=False, server_default=""),
        sa.Column("published_at", stamp, nullable=True),
        sa.Column("fetched_at", stamp, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("created_at", stamp, nullable=False),
        sa.Column("updated_at", stamp, nullable=False),
        sa.UniqueConstraint("url", name="uq_documents_url"),
        sa.ForeignKeyConstraint(
            ["source_id"], ["sources.id"], name="fk_documents_source_id", ondelete="CASCADE"
        ),
        sa.Index("ix_documents_source_id", "source_id"),
        sa.Index("ix_documents_platform", "platform"),
    )
    md.create_all(conn, checkfirst=False)


def _0002_ownership_crawl_state(conn: Connection) -> None:
    """Whose writing a source is and what its last crawl saw; per document, whether it is
    the account holder's own writing and its source-specific facts (JSON)."""
    for ddl in (
        "ALTER TABLE sources ADD COLUMN owner TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE sources ADD COLUMN state TEXT NOT NULL DEFAULT '{}'",
        "ALTER TABLE documents ADD COLUMN owned BOOLEAN",
        "ALTER TABLE documents ADD COLUMN meta TEXT NOT NULL DEFAULT '{}'",
    ):
        conn.execute(sa.text(ddl))


INGEST_MIGRATIONS: tuple[Migration, ...] = (
    Migration("ingest.0001_sources_documents", _0001_sources_documents),
    Migration("ingest.0002_ownership_crawl_state", _0002_ownership_crawl_state),
)
