"""The digest job end to end on the real model, warehouse and job store: what was ingested
is posted once with a drafted suggestion and its feedback id; a rerun of the same period,
even after the process died mid-post, posts nothing again; an empty period posts nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.schedules import digest_post
from bot.schedules.digest_log import DigestLog
from bot.schedules.service import ScheduleService
from model.hf import HfGenerator
from tests.bot.test_schedules import recorder
from tests.chat_support import chat_handler

DIGEST = {"schedules.digest_to": '["telegram:42"]'}


@pytest.fixture(autouse=True)
def settle_now(monkeypatch: pytest.MonkeyPatch) -> None:
    # Documents ingested a moment ago belong to the period that ends now.
    monkeypatch.setattr(digest_post, "SETTLE", timedelta(0))


async def test_a_digest_is_posted_once_with_a_draft(smol: HfGenerator) -> None:
    posted, notify = recorder()
    async with chat_handler(smol, DIGEST) as (handler, twin):
        service = ScheduleService(twin, notify=notify, writer=handler.writer)
        await service.start()
        try:
            assert service.schedules.find("digest").id == "digest:telegram:42"
            _, said = await service.run_now("digest")
            assert said.startswith("posted ") and said.endswith(" and a draft"), said
            [(destination, text, draft_id)] = posted
            assert destination == "telegram:42" and draft_id is not None
            assert "Your writing" in text and "A draft from it:" in text
            stored = twin.warehouse.list_sources()[0]
            assert stored.documents >= 1
            record = handler.writer.store.get(draft_id)  # recorded like any draft
            assert record is not None and record.output and record.output in text

            # The same period again: nothing new, nothing posted.
            _, again = await service.run_now("digest")
            assert len(posted) == 1 and again.startswith("nothing ingested since")
        finally:
            await service.stop()


async def test_a_claim_left_by_a_killed_run_is_not_posted_again(smol: HfGenerator) -> None:
    posted, notify = recorder()
    async with chat_handler(smol, DIGEST) as (handler, twin):
        # A run that claimed the period and died before posting.
        from datetime import UTC, datetime

        DigestLog(twin.warehouse).claim("telegram:42", datetime.now(UTC))
        service = ScheduleService(twin, notify=notify, writer=handler.writer)
        await service.start()
        try:
            _, said = await service.run_now("digest")
        finally:
            await service.stop()
    assert posted == [] and said.startswith("nothing ingested since")
