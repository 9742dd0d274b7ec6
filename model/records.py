"""Drafts and the feedback on them, kept in the warehouse's database.

The model package owns these two tables and their migrations (run through the same
append-only runner as ingest's). A draft records everything needed to judge or redo it:
the prompt and format, which chunks were retrieved, which model (and version) wrote it with
which sampling parameters, the output and its timings. Feedback rows (ratings, the owner's
edits) point at a draft; the training issue turns them into preference data.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy import Connection

from ingest.warehouse.migrations import Migration, run_migrations
from ingest.warehouse.schema import UTCDateTime
from ingest.warehouse.store import Warehouse

metadata = sa.MetaData()

SourceRole = Literal["material", "voice"]

drafts = sa.Table(
    "drafts",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("user", sa.String(200), nullable=False),
    sa.Column("prompt", sa.Text, nullable=False),
    sa.Column("format", sa.String(16), nullable=False),
    sa.Column("links", sa.JSON, nullable=False),
    sa.Column("chunk_ids", sa.JSON, nullable=False),
    sa.Column("sources", sa.JSON, nullable=False),
    sa.Column("backend", sa.String(16), nullable=False),
    sa.Column("model_id", sa.Text, nullable=False),
    sa.Column("model_version", sa.Text, nullable=False),
    sa.Column("params", sa.JSON, nullable=False),
    sa.Column("output", sa.Text, nullable=False),
    sa.Column("finish_reason", sa.String(16), nullable=False),
    sa.Column("timings", sa.JSON, nullable=False),
    sa.Column("notes", sa.JSON, nullable=False),
)

feedback = sa.Table(
    "feedback",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("draft_id", sa.String(32), sa.ForeignKey("drafts.id"), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("user", sa.String(200), nullable=False),
    sa.Column("rating", sa.Integer, nullable=True),
    sa.Column("edited_text", sa.Text, nullable=True),
    sa.Column("comment", sa.Text, nullable=True),
)


@dataclass(frozen=True, slots=True)
class SourceRef:
    """A document a draft drew on, as the owner sees it, and in which role: "material"
    (retrieved passages, shared links: what the draft says) or "voice" (the owner's own
    pieces shown as examples of voice and shape). Stored in the drafts row's `sources`
    JSON; rows from before roles load as "material"."""

    url: str
    title: str
    role: SourceRole = "material"


# How each role is headed where the owner reads a draft's sources (CLI, chat, web page).
ROLE_HEADINGS: dict[SourceRole, str] = {"material": "Sources", "voice": "Voice examples"}


def sources_by_role(sources: tuple[SourceRef, ...]) -> list[tuple[str, list[SourceRef]]]:
    """The sources grouped under their headings, material first; empty groups left out."""
    return [
        (heading, [s for s in sources if s.role == role])
        for role, heading in ROLE_HEADINGS.items()
        if any(s.role == role for s in sources)
    ]


@dataclass(frozen=True)
class DraftRecord:
    prompt: str
    format: str
    output: str
    finish_reason: str
    backend: str
    model_id: str
    model_version: str
    user: str = "owner"
    links: tuple[str, ...] = ()
    chunk_ids: tuple[str, ...] = ()
    sources: tuple[SourceRef, ...] = ()
    params: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass(frozen=True)
class Feedback:
    draft_id: str
    user: str
    rating: int | None
    edited_text: str | None
    comment: str | None
    created_at: datetime


class DraftStore:
    """Drafts and feedback in the warehouse database (migrated on open)."""

    def __init__(self, warehouse: Warehouse) -> None:
        self._warehouse = warehouse
        with warehouse.guard("creating the drafts tables"):
            run_migrations(warehouse.engine, MODEL_MIGRATIONS)

    def save(self, draft: DraftRecord) -> DraftRecord:
        row = {
            "id": draft.id,
            "created_at": draft.created_at,
            "user": draft.user,
            "prompt": draft.prompt,
            "format": draft.format,
            "links": list(draft.links),
            "chunk_ids": list(draft.chunk_ids),
            "sources": [{"url": s.url, "title": s.title, "role": s.role} for s in draft.sources],
            "backend": draft.backend,
            "model_id": draft.model_id,
            "model_version": draft.model_version,
            "params": draft.params,
            "output": draft.output,
            "finish_reason": draft.finish_reason,
            "timings": draft.timings,
            "notes": list(draft.notes),
        }
        with self._warehouse.guard("saving a draft"), self._warehouse.writer.begin() as conn:
            conn.execute(drafts.insert().values(**row))
        return draft

    def get(self, draft_id: str) -> DraftRecord | None:
        with self._warehouse.guard("reading a draft"), self._warehouse.engine.connect() as conn:
            row = conn.execute(drafts.select().where(drafts.c.id == draft_id)).mappings().first()
        return None if row is None else draft_from_row(row)

    def recent(self, limit: int = 20, *, user: str | None = None) -> list[DraftRecord]:
        query = drafts.select().order_by(drafts.c.created_at.desc()).limit(limit)
        if user is not None:
            query = query.where(drafts.c.user == user)
        with self._warehouse.guard("listing drafts"), self._warehouse.engine.connect() as conn:
            return [draft_from_row(row) for row in conn.execute(query).mappings()]

    def add_feedback(
        self,
        draft_id: str,
        *,
        user: str,
        rating: int | None = None,
        edited_text: str | None = None,
        comment: str | None = None,
    ) -> Feedback:
        item = Feedback(draft_id, user, rating, edited_text, comment, datetime.now(UTC))
        with self._warehouse.guard("saving feedback"), self._warehouse.writer.begin() as conn:
            conn.execute(
                feedback.insert().values(
                    draft_id=draft_id,
                    user=user,
                    rating=rating,
                    edited_text=edited_text,
                    comment=comment,
                    created_at=item.created_at,
                )
            )
        return item

    def feedback_for(self, draft_id: str) -> list[Feedback]:
        query = feedback.select().where(feedback.c.draft_id == draft_id).order_by(feedback.c.id)
        with self._warehouse.guard("reading feedback"), self._warehouse.engine.connect() as conn:
            return [feedback_from_row(r) for r in conn.execute(query).mappings()]

    def rated_drafts(self) -> list[tuple[DraftRecord, list[Feedback]]]:
        """Every draft that has feedback, oldest first, each with its feedback in the
        order it was given (two queries, whatever the number of drafts)."""
        rated = drafts.select().where(drafts.c.id.in_(sa.select(feedback.c.draft_id)))
        with self._warehouse.guard("reading feedback"), self._warehouse.engine.connect() as conn:
            records = [
                draft_from_row(row)
                for row in conn.execute(rated.order_by(drafts.c.created_at, drafts.c.id)).mappings()
            ]
            items: dict[str, list[Feedback]] = {record.id: [] for record in records}
            for row in conn.execute(feedback.select().order_by(feedback.c.id)).mappings():
                items.setdefault(row["draft_id"], []).append(feedback_from_row(row))
        return [(record, items[record.id]) for record in records]


def feedback_from_row(row: sa.RowMapping) -> Feedback:
    return Feedback(
        row["draft_id"],
        row["user"],
        row["rating"],
        row["edited_text"],
        row["comment"],
        row["created_at"],
    )


def _source_ref(item: dict[str, Any]) -> SourceRef:
    """A stored source; rows written before roles hold none and were all material."""
    return SourceRef(
        item["url"], item["title"], "voice" if item.get("role") == "voice" else "material"
    )


def draft_from_row(row: sa.RowMapping) -> DraftRecord:
    return DraftRecord(
        id=row["id"],
        created_at=row["created_at"],
        user=row["user"],
        prompt=row["prompt"],
        format=row["format"],
        links=tuple(row["links"]),
        chunk_ids=tuple(row["chunk_ids"]),
        sources=tuple(_source_ref(s) for s in row["sources"]),
        backend=row["backend"],
        model_id=row["model_id"],
        model_version=row["model_version"],
        params=dict(row["params"]),
        output=row["output"],
        finish_reason=row["finish_reason"],
        timings=dict(row["timings"]),
        notes=tuple(row["notes"]),
    )


# --- migrations: append only ------------------------------------------------------------


def _0001_drafts_feedback(conn: Connection) -> None:
    md = sa.MetaData()
    stamp = sa.DateTime(timezone=True)
    sa.Table(
        "drafts",
        md,
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("created_at", stamp, nullable=False),
        sa.Column("user", sa.String(200), nullable=False),
        sa.Column("prompt", sa.Text, nullable=False),
        sa.Column("format", sa.String(16), nullable=False),
        sa.Column("links", sa.JSON, nullable=False),
        sa.Column("chunk_ids", sa.JSON, nullable=False),
        sa.Column("sources", sa.JSON, nullable=False),
        sa.Column("backend", sa.String(16), nullable=False),
        sa.Column("model_id", sa.Text, nullable=False),
        sa.Column("model_version", sa.Text, nullable=False),
        sa.Column("params", sa.JSON, nullable=False),
        sa.Column("output", sa.Text, nullable=False),
        sa.Column("finish_reason", sa.String(16), nullable=False),
        sa.Column("timings", sa.JSON, nullable=False),
        sa.Column("notes", sa.JSON, nullable=False),
        sa.Index("ix_drafts_created_at", "created_at"),
        sa.Index("ix_drafts_user", "user"),
    )
    sa.Table(
        "feedback",
        md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("draft_id", sa.String(32), nullable=False),
        sa.Column("created_at", stamp, nullable=False),
        sa.Column("user", sa.String(200), nullable=False),
        sa.Column("rating", sa.Integer, nullable=True),
        sa.Column("edited_text", sa.Text, nullable=True),
        sa.Column("comment", sa.Text, nullable=True),
        sa.ForeignKeyConstraint(
            ["draft_id"], ["drafts.id"], name="fk_feedback_draft_id", ondelete="CASCADE"
        ),
        sa.Index("ix_feedback_draft_id", "draft_id"),
    )
    md.create_all(conn, checkfirst=False)


MODEL_MIGRATIONS: tuple[Migration, ...] = (
    Migration("model.0001_drafts_feedback", _0001_drafts_feedback),
)
