"""`llm-twin search` and `forget`: their work in the running bot when there is one (it
holds the index and the embedder already, and is the index's one writer), else here."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

import click

from bot.cli.context import LazyTwin, user_errors
from core.wording import plural

if TYPE_CHECKING:
    from bot.cli.remote import BotClient
    from bot.twin import Twin
    from retrieval.types import SearchFilters, SearchHit

log = logging.getLogger(__name__)


def search_hits(
    lazy: LazyTwin,
    query: str,
    *,
    k: int | None,
    alpha: float | None,
    filters: SearchFilters,
) -> list[SearchHit]:
    from bot.cli.remote import BotUnavailable

    with user_errors():
        bot = lazy.bot()
        if bot is not None:
            try:
                return _from_bot(bot, query, k=k, alpha=alpha, filters=filters)
            except BotUnavailable as exc:
                log.info("searching here: %s", exc)
    with lazy.twin() as twin:
        hits = asyncio.run(twin.search(query, k=k, alpha=alpha, filters=filters))
        if note := twin.health.note():  # the index being rebuilt (bot/index_health.py)
            click.echo(f"note: {note}", err=True)
        return hits


def _from_bot(
    bot: BotClient, query: str, *, k: int | None, alpha: float | None, filters: SearchFilters
) -> list[SearchHit]:
    from bot.wire import filters_json, hit_from

    answer = bot.call(
        "/api/cli/search",
        {"query": query, "k": k, "alpha": alpha, "filters": filters_json(filters)},
    )
    if note := answer.get("note"):  # the bot's index being rebuilt (bot/index_health.py)
        click.echo(f"note: {note}", err=True)
    return [hit_from(hit) for hit in answer["hits"]]


def forget_url(lazy: LazyTwin, twin: Twin, url: str) -> str:
    """Remove what `url` names; what was removed, for the owner ("" when nothing was).
    The running bot removes the chunks with the documents; here, without one, the index
    is not opened: searches skip the chunks, and the index drops them when it next opens."""
    from bot.cli.remote import BotUnavailable

    bot = lazy.bot()
    if bot is not None:
        try:
            removed: list[str] = bot.call("/api/cli/forget", {"url": url})["removed"]
            together = "and its chunks" if len(removed) == 1 else "and their chunks"
            return f"{plural(len(removed), 'document')} {together} removed" if removed else ""
        except BotUnavailable as exc:
            log.info("forgetting here: %s", exc)
    if removed := twin.forget(url):
        return (
            f"{plural(len(removed), 'document')} removed (searches no longer find"
            f" {'it' if len(removed) == 1 else 'them'}; the index drops the chunks when it"
            " next opens)"
        )
    return ""
