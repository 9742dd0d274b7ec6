"""The GitHub source through the real pipeline (warehouse, embedder, index): a recrawl of an
unchanged account embeds nothing and reads no file; a push re-embeds only what changed and
removes what was deleted. The registry is built here, through the plugin seam."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.config import load_config
from bot.twin import Twin
from ingest.document import document_id
from ingest.extractors.base import ExtractorRegistry
from ingest.extractors.github import GitHubExtractor
from ingest.fetcher import Fetcher
from ingest.pipeline import Ingestor
from ingest.settings import FetchPolicy
from tests.github_emulator import GitHubEmulator, Repo, blob_sha
from tests.ingest.parts import CountingEmbedder
from tests.ingest.test_github import ANN, APP_PY, KEPT, TOOLS_FILES, doc_url


@pytest.fixture
def twin(tmp_path: Path) -> Iterator[Twin]:
    twin = Twin(load_config(home=tmp_path / "home", env={}))
    yield twin
    twin.close()


@pytest.fixture
async def github() -> AsyncIterator[GitHubEmulator]:
    emulator = GitHubEmulator()
    emulator.add_repo(Repo("ann", "tools", dict(TOOLS_FILES)))
    emulator.add_repo(Repo("ann", "notes", {"README": b"Notes on tools and testing.\n"}))
    await emulator.start()
    try:
        yield emulator
    finally:
        await emulator.close()


def pipeline(twin: Twin, github: GitHubEmulator, fetcher: Fetcher, embedder: Any) -> Ingestor:
    registry = ExtractorRegistry(fallback=twin.registry.fallback)
    registry.register(GitHubExtractor(api_url=github.url()))
    return Ingestor(
        warehouse=twin.warehouse,
        index=twin.index,
        embedder=embedder,
        chunker=twin.chunker,
        registry=registry,
        fetcher=fetcher,
    )


async def test_recrawls_embed_only_what_changed(twin: Twin, github: GitHubEmulator) -> None:
    embedder = CountingEmbedder(twin.embedder)
    async with Fetcher(FetchPolicy(allow_private_networks=True, retries=0)) as fetcher:
        ingestor = pipeline(twin, github, fetcher, embedder)
        [first] = await ingestor.ingest([ANN])
        assert first.ok and first.new == len(KEPT) + 1 and "1 too large" in first.notes[0]
        source = twin.warehouse.get_source(ANN)
        assert source is not None and source.owner == "ann"

        embedder.embedded.clear()
        github.requests.clear()
        [same] = await ingestor.recrawl()
        assert same.ok and (same.new, same.changed, same.unchanged, same.removed) == (0, 0, 5, 0)
        assert embedder.embedded == [] and github.blob_reads() == []

        new_app = APP_PY.replace(b"hello, nobody", b"hello, stranger")
        github.push(
            github.repos["ann/tools"],
            {"src/tools/app.py": new_app, "src/tools/cli.py": b"def main():\n    pass\n"},
            delete=("docs/guide.md",),
        )
        [pushed] = await ingestor.recrawl([ANN])

    assert pushed.ok, pushed.error
    assert (pushed.new, pushed.changed, pushed.unchanged, pushed.removed) == (1, 1, 3, 1)
    assert twin.warehouse.get_document(document_id(doc_url("ann/tools", "docs/guide.md"))) is None
    app = twin.warehouse.get_document(document_id(doc_url("ann/tools", "src/tools/app.py")))
    assert app is not None and app.meta["blob_sha"] == blob_sha(new_app)
    assert "hello, stranger" in " ".join(embedder.embedded)
    assert "Small tools I wrote" not in " ".join(embedder.embedded)  # README: not re-embedded


async def test_code_is_stored_verbatim(twin: Twin, github: GitHubEmulator) -> None:
    async with Fetcher(FetchPolicy(allow_private_networks=True, retries=0)) as fetcher:
        [result] = await pipeline(twin, github, fetcher, twin.embedder).ingest([ANN])
    assert result.ok
    app = twin.warehouse.get_document(document_id(doc_url("ann/tools", "src/tools/app.py")))
    assert app is not None and app.text == APP_PY.decode()
