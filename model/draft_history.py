"""The drafts as a history to browse: newest first, a page at a time, filtered by format,
rating and text, each with what the owner said about it (the latest 👍/👎 and the edits).

It reads the two tables `model/records.py` owns; the database is the history, so it
survives reloads and restarts, and drafts made from the CLI or a chat show up too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import sqlalchemy as sa

from ingest.warehouse.migrations import run_migrations
from ingest.warehouse.store import Warehouse
from model.records import (
    MODEL_MIGRATIONS,
    DraftRecord,
    Feedback,
    draft_from_row,
    drafts,
    feedback,
    feedback_from_row,
)

Rating = Literal["up", "down", "none"]
RATINGS: tuple[Rating, ...] = ("up", "down", "none")


@dataclass(frozen=True)
class HistoryItem:
    draft: DraftRecord
    rating: int | None  # the latest rating: 1, -1, or None when unrated
    edits: tuple[Feedback, ...]  # the owner's versions, oldest first


@dataclass(frozen=True)
class HistoryPage:
    total: int  # drafts matching the filters, on every page
    items: list[HistoryItem]


class DraftHistory:
    def __init__(self, warehouse: Warehouse) -> None:
        self._warehouse = warehouse
        with warehouse.guard("creating the drafts tables"):
            run_migrations(warehouse.engine, MODEL_MIGRATIONS)

    def page(
        self,
        *,
        offset: int = 0,
        limit: int = 20,
        format: str = "",
        rating: Rating | None = None,
        text: str = "",
    ) -> HistoryPage:
        """Drafts newest first; `format` exact, `rating` the latest one (none: unrated),
        `text` a case-insensitive part of the prompt or the output."""
        rated = _latest_ratings()
        query = sa.select(drafts, rated.c.rating).outerjoin(rated, rated.c.draft_id == drafts.c.id)
        if format:
            query = query.where(drafts.c.format == format)
        if rating == "up":
            query = query.where(rated.c.rating > 0)
        elif rating == "down":
            query = query.where(rated.c.rating < 0)
        elif rating == "none":
            query = query.where(rated.c.rating.is_(None))
        if text:
            pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            query = query.where(
                sa.or_(
                    drafts.c.prompt.ilike(pattern, escape="\\"),
                    drafts.c.output.ilike(pattern, escape="\\"),
                )
            )
        counted = sa.select(sa.func.count()).select_from(query.subquery())
        ordered = query.order_by(drafts.c.created_at.desc(), drafts.c.id.desc())
        with self._warehouse.guard("listing drafts"), self._warehouse.engine.connect() as conn:
            total = conn.execute(counted).scalar_one()
            rows = list(conn.execute(ordered.offset(offset).limit(limit)).mappings())
            edits = _edits(conn, [row["id"] for row in rows])
        items = [
            HistoryItem(draft_from_row(row), row["rating"], tuple(edits.get(row["id"], ())))
            for row in rows
        ]
        return HistoryPage(total, items)

    def item(self, draft_id: str) -> HistoryItem | None:
        rated = _latest_ratings()
        query = (
            sa.select(drafts, rated.c.rating)
            .outerjoin(rated, rated.c.draft_id == drafts.c.id)
            .where(drafts.c.id == draft_id)
        )
        with self._warehouse.guard("reading a draft"), self._warehouse.engine.connect() as conn:
            row = conn.execute(query).mappings().first()
            if row is None:
                return None
            edits = _edits(conn, [draft_id])
        return HistoryItem(draft_from_row(row), row["rating"], tuple(edits.get(draft_id, ())))


def _latest_ratings() -> sa.Subquery:
    """(draft_id, rating) of each draft's latest rating."""
    latest = (
        sa.select(feedback.c.draft_id, sa.func.max(feedback.c.id).label("feedback_id"))
        .where(feedback.c.rating.is_not(None))
        .group_by(feedback.c.draft_id)
        .subquery()
    )
    return (
        sa.select(latest.c.draft_id, feedback.c.rating)
        .join(feedback, feedback.c.id == latest.c.feedback_id)
        .subquery()
    )


def _edits(conn: sa.Connection, draft_ids: Sequence[str]) -> dict[str, list[Feedback]]:
    if not draft_ids:
        return {}
    query = (
        feedback.select()
        .where(feedback.c.draft_id.in_(draft_ids), feedback.c.edited_text.is_not(None))
        .order_by(feedback.c.id)
    )
    found: dict[str, list[Feedback]] = {}
    for row in conn.execute(query).mappings():
        found.setdefault(row["draft_id"], []).append(feedback_from_row(row))
    return found
