"""A real `ChatHandler` for the front-end tests: the sample writing ingested into a real
index, the session's SmolLM2 as the model, short greedy drafts."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path

from bot.chat.handler import ChatHandler
from bot.config import load_config
from bot.metrics import Metrics
from bot.serve import allowlist
from bot.twin import Twin
from model.generator import Generator

SAMPLE = Path(__file__).resolve().parents[1] / "sample"
SHORT_DRAFTS = {
    "drafting.max_new_tokens": "24",
    "drafting.temperature": "0",
    "owner.name": "Sam Rivera",
    "ingest.allowed_networks": "127.0.0.1/32",
    "ingest.retries": "0",
}


@asynccontextmanager
async def chat_handler(
    generator: Generator,
    overrides: Mapping[str, str] | None = None,
    *,
    ingest_sample: bool = True,
) -> AsyncIterator[tuple[ChatHandler, Twin]]:
    config = load_config({**SHORT_DRAFTS, **(overrides or {})})
    twin = Twin(config, generator=generator)
    try:
        if ingest_sample:
            async with twin.ingestor() as ingestor:
                [result] = await ingestor.ingest([str(SAMPLE)], allow_paths=True)
            assert result.ok, result.error
        async with twin.draft_writer() as writer:
            yield (
                ChatHandler(
                    twin,
                    writer,
                    allowed=allowlist(config),
                    rate_per_minute=config.chat.rate_per_minute,
                    metrics=Metrics(),
                ),
                twin,
            )
    finally:
        await twin.aclose()
