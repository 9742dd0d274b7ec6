"""The drafts as a history to browse: pages, filters by format, rating and text, the
latest rating and the edits, on SQLite and on a throwaway PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ingest.warehouse.store import Warehouse
from model.draft_history import DraftHistory
from model.records import DraftRecord, DraftStore


def draft(prompt: str, fmt: str, minutes: int, output: str = "Ship it.") -> DraftRecord:
    return DraftRecord(
        prompt=prompt,
        format=fmt,
        output=output,
        finish_reason="stop",
        backend="llamacpp",
        model_id="/models/SmolLM2-135M-Instruct.Q4_1.gguf",
        model_version="base",
        created_at=datetime(2026, 11, 1, tzinfo=UTC) + timedelta(minutes=minutes),
    )


def test_pages_newest_first_with_ratings_and_edits(warehouse_url: str) -> None:
    with Warehouse(warehouse_url) as warehouse:
        store = DraftStore(warehouse)
        saved = [store.save(draft(f"prompt {i}", "thread", i)) for i in range(5)]
        store.add_feedback(saved[1].id, user="web:owner", rating=1)
        store.add_feedback(saved[1].id, user="web:owner", rating=-1)  # changed their mind
        store.add_feedback(saved[1].id, user="web:owner", edited_text="Ship it today.")
        store.add_feedback(saved[1].id, user="web:owner", comment="regenerate")
        store.add_feedback(saved[1].id, user="web:owner", edited_text="Ship it now.")
        history = DraftHistory(warehouse)

        first = history.page(limit=2)
        assert first.total == 5
        assert [i.draft.prompt for i in first.items] == ["prompt 4", "prompt 3"]
        second = history.page(offset=2, limit=2)
        assert [i.draft.prompt for i in second.items] == ["prompt 2", "prompt 1"]
        rated = second.items[1]
        assert rated.rating == -1  # the latest rating counts
        assert [e.edited_text for e in rated.edits] == ["Ship it today.", "Ship it now."]
        assert second.items[0].rating is None and second.items[0].edits == ()

        one = history.item(saved[1].id)
        assert one is not None and one.rating == -1 and len(one.edits) == 2
        assert one.draft == saved[1]
        assert history.item("0" * 32) is None


def test_filters_by_format_rating_and_text(warehouse_url: str) -> None:
    with Warehouse(warehouse_url) as warehouse:
        store = DraftStore(warehouse)
        a = store.save(draft("Why evals matter", "linkedin", 0, output="Evals are 100% worth it"))
        b = store.save(draft("SQLite tips", "thread", 1, output="1/ Use WAL_mode"))
        c = store.save(draft("More on EVALS", "thread", 2))
        store.add_feedback(a.id, user="o", rating=1)
        store.add_feedback(b.id, user="o", rating=-1)
        history = DraftHistory(warehouse)

        def ids(**filters: object) -> list[str]:
            page = history.page(**filters)  # type: ignore[arg-type]
            assert page.total == len(page.items)
            return [item.draft.id for item in page.items]

        assert ids(format="thread") == [c.id, b.id]
        assert ids(rating="up") == [a.id]
        assert ids(rating="down") == [b.id]
        assert ids(rating="none") == [c.id]
        assert ids(text="evals") == [c.id, a.id]  # prompt or output, any case
        assert ids(text="100%") == [a.id]  # % and _ are literal, not wildcards
        assert ids(text="Use_WAL") == []  # "_" would match the space
        assert ids(text="wal_mode") == [b.id]
        assert ids(format="thread", text="evals") == [c.id]
        assert ids(format="article") == []
