"""One digest post: claim the period (at most once, across crashes), gather what was
ingested in it, draft one suggestion from the owner's new writing, post both with the
draft's feedback buttons, and record it. An empty period posts nothing."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from bot.schedules.digest import gather_digest
from bot.schedules.digest_log import DigestLog
from bot.schedules.jobs import Notify
from core.errors import TwinError
from ingest.warehouse.store import Warehouse
from model.draft import DraftDone, DraftRequest, DraftWriter

__all__ = ["post_digest"]

# A document still being written when the digest runs is stamped before it is visible:
# the period ends a little in the past so it falls in the next one instead of neither.
SETTLE = timedelta(minutes=5)


async def post_digest(
    warehouse: Warehouse,
    destination: str,
    *,
    notify: Notify | None,
    writer: DraftWriter | None,
    draft_format: str,
) -> str:
    """Post the digest of the period ending now to `destination` through `notify`, with a
    suggested draft in `draft_format` when there is a `writer`; what it did, in words."""
    if notify is None:
        raise TwinError(f"{destination}: no chat adapter is running to post the digest")
    log = DigestLog(warehouse)
    claim = await asyncio.to_thread(log.claim, destination, datetime.now(UTC) - SETTLE)
    if claim is None:
        return "this period's digest was already posted (or claimed by a run cut short)"
    digest = await asyncio.to_thread(gather_digest, warehouse, claim.period_start, claim.period_end)
    if digest is None:
        await asyncio.to_thread(log.empty, claim)
        return f"nothing ingested since {claim.period_start:%Y-%m-%d %H:%M} UTC; nothing posted"
    text, draft_id = digest.text(), None
    prompt = digest.draft_prompt(draft_format)
    if prompt is not None and writer is not None:
        draft_id, draft = await _draft(writer, prompt, draft_format)
        text += f"\n\n**A draft from it:**\n\n{draft}"
    await notify(destination, text, draft_id)
    await asyncio.to_thread(log.sent, claim, draft_id)
    return f"posted {len(digest.items)} items" + (" and a draft" if draft_id else "")


async def _draft(writer: DraftWriter, prompt: str, draft_format: str) -> tuple[str, str]:
    request = DraftRequest(prompt, draft_format, user="digest")
    async for event in writer.write(request):
        if isinstance(event, DraftDone):
            return event.draft.id, event.draft.output
    raise TwinError("the digest's draft ended without a result")
