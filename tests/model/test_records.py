"""Draft and feedback records, on SQLite and on a throwaway PostgreSQL."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from ingest.warehouse.migrations import MIGRATIONS_TABLE
from ingest.warehouse.store import Warehouse
from model.records import DraftRecord, DraftStore, SourceRef, drafts


def record(prompt: str, *, user: str = "owner", minutes: int = 0) -> DraftRecord:
    return DraftRecord(
        prompt=prompt,
        format="thread",
        output="1/ Ship it.\n\n2/ Then measure.",
        finish_reason="stop",
        backend="hf",
        model_id="smollm2.gguf",
        model_version="base",
        user=user,
        links=("https://example.com/a",),
        chunk_ids=("c1", "c2"),
        sources=(SourceRef("https://example.com/post", "A post"),),
        params={"max_new_tokens": 400, "temperature": 0.7, "stop": []},
        timings={"retrieval_ms": 12.5, "tokens_per_second": 18.0},
        notes=("a note",),
        created_at=datetime(2026, 11, 1, tzinfo=UTC) + timedelta(minutes=minutes),
    )


def test_a_draft_round_trips_with_every_field(warehouse_url: str) -> None:
    with Warehouse(warehouse_url) as warehouse:
        store = DraftStore(warehouse)
        saved = store.save(record("ship small"))
        assert store.get(saved.id) == saved
        assert store.get("0" * 32) is None


def test_recent_drafts_newest_first_and_per_user(warehouse_url: str) -> None:
    with Warehouse(warehouse_url) as warehouse:
        store = DraftStore(warehouse)
        for i, user in enumerate(["alice", "bob", "alice"]):
            store.save(record(f"p{i}", user=user, minutes=i))
        assert [d.prompt for d in store.recent()] == ["p2", "p1", "p0"]
        assert [d.prompt for d in store.recent(user="alice")] == ["p2", "p0"]
        assert [d.prompt for d in store.recent(1)] == ["p2"]


def test_feedback_attaches_to_a_draft(warehouse_url: str) -> None:
    with Warehouse(warehouse_url) as warehouse:
        store = DraftStore(warehouse)
        draft = store.save(record("ship small"))
        store.add_feedback(draft.id, user="owner", rating=1)
        store.add_feedback(
            draft.id, user="owner", edited_text="1/ Ship it today.", comment="tighter"
        )
        items = store.feedback_for(draft.id)
        assert [(f.rating, f.edited_text, f.comment) for f in items] == [
            (1, None, None),
            (None, "1/ Ship it today.", "tighter"),
        ]
        assert store.feedback_for("0" * 32) == []


def test_the_model_migrations_run_once_beside_ingests(warehouse_url: str) -> None:
    with Warehouse(warehouse_url) as warehouse:
        DraftStore(warehouse)
        DraftStore(warehouse)  # a second open applies nothing again
        with warehouse.engine.connect() as conn:
            names = conn.execute(sa.text(f"SELECT name FROM {MIGRATIONS_TABLE}")).scalars()
            assert sorted(names) == [
                "ingest.0001_sources_documents",
                "ingest.0002_ownership_crawl_state",
                "model.0001_drafts_feedback",
            ]


def test_source_roles_round_trip_and_rows_from_before_roles_load_as_material(
    warehouse_url: str,
) -> None:
    with Warehouse(warehouse_url) as warehouse:
        store = DraftStore(warehouse)
        sources = (SourceRef("https://e/a", "A"), SourceRef("https://e/b", "B", "voice"))
        saved = store.save(replace(record("ship small"), sources=sources))
        assert store.get(saved.id) == saved
        old = store.save(record("old row"))
        with warehouse.writer.begin() as conn:  # as a draft stored before roles reads
            conn.execute(
                drafts.update()
                .where(drafts.c.id == old.id)
                .values(sources=[{"url": "https://e/old", "title": "Old"}])
            )
        loaded = store.get(old.id)
        assert loaded is not None
        assert loaded.sources == (SourceRef("https://e/old", "Old", "material"),)
