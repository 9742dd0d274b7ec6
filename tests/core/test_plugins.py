"""A third party's package registers an index backend, a generator backend and an
extractor through entry points, the way the built-ins are registered, and the twin picks
each one up by name from the config."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from bot.config import load_config
from bot.twin import Twin
from core import plugins
from core.errors import ConfigError
from ingest.extractors.registry import build_registry
from ingest.fetcher import Fetcher

# A plug-in package as pip would install it: its module, and a .dist-info folder whose
# entry_points.txt names what it provides.
PLUGIN = """
from __future__ import annotations

from dataclasses import dataclass

from ingest.document import Document
from model.generator import Finished, TextDelta


class MemoryIndex:
    backend = "memory"

    def __init__(self, manifest, where, reset):
        self.manifest, self.where, self.reset = manifest, where, reset

    @classmethod
    def from_settings(cls, settings, *, manifest, path, api_key=None, reset=False):
        return cls(manifest, path, reset)

    def count(self):
        return 0


class EchoGenerator:
    backend = "echo"
    can_batch = False
    model_id = "echo"
    model_version = "1"
    context_length = 4096

    def __init__(self, settings):
        self.settings = settings

    @classmethod
    async def from_settings(cls, settings, *, cache_dir, api_key=None):
        return cls(settings)

    def count_tokens(self, messages):
        return sum(len(m.content.split()) for m in messages)

    async def stream(self, messages, params):
        words = messages[-1].content.split()
        yield TextDelta(" ".join(reversed(words)))
        yield Finished("stop", len(words), len(words), 0.0, 0.0)

    async def aclose(self):
        pass


class NotesExtractor:
    name = "notes"
    description = "notes.example pages"

    def __init__(self, prefix):
        self.prefix = prefix

    @classmethod
    def from_settings(cls, settings):
        return cls(settings.github.api_url)

    def matches(self, url):
        return url.startswith("https://notes.example/")

    async def extract(self, url, fetcher):
        return [Document(url=url, title="A note", text="Written by a plug-in.", platform="notes")]
"""

ENTRY_POINTS = """
[llm_twin.index]
memory = twin_thirdparty:MemoryIndex

[llm_twin.generators]
echo = twin_thirdparty:EchoGenerator

[llm_twin.extractors]
notes = twin_thirdparty:NotesExtractor
"""


@pytest.fixture
def installed_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    site = tmp_path / "site"
    (site / "twin_thirdparty-0.1.dist-info").mkdir(parents=True)
    (site / "twin_thirdparty.py").write_text(textwrap.dedent(PLUGIN))
    info = site / "twin_thirdparty-0.1.dist-info"
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: twin-thirdparty\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(ENTRY_POINTS)
    monkeypatch.syspath_prepend(str(site))


def test_the_built_ins_are_registered_as_entry_points() -> None:
    assert plugins.names(plugins.INDEX) == ("lance", "weaviate")
    assert plugins.names(plugins.GENERATORS) == ("exl2", "hf", "llamacpp", "openai")
    assert plugins.names(plugins.EXTRACTORS) == ("github", "linkedin", "medium", "substack")


def test_an_unknown_name_is_refused_with_the_names_on_offer(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError, match=r"model\.backend must be one of exl2, hf, llamacpp, openai"
    ):
        load_config({"model.backend": "echo"}, env={}, home=tmp_path)
    with pytest.raises(ConfigError, match=r"index\.backend must be one of lance, weaviate"):
        plugins.load(plugins.INDEX, "memory", key="index.backend")


async def test_a_third_party_index_and_generator_are_chosen_by_config(
    installed_plugin: None, tmp_path: Path
) -> None:
    config = load_config(
        {"model.backend": "echo", "model.name": "mine", "index.backend": "memory"},
        env={},
        home=tmp_path / "home",
    )
    twin = Twin(config)
    try:
        index = twin.index
        assert type(index).__name__ == "MemoryIndex"
        assert index.where == config.index_path  # type: ignore[attr-defined]
        assert index.manifest == twin.manifest()  # type: ignore[attr-defined]
        worker = await twin.model_worker()
        generator = worker.generator
        assert type(generator).__name__ == "EchoGenerator"
        assert generator.settings.name == "mine"  # type: ignore[attr-defined]
        from model.generator import GenerationParams, Message, TextDelta

        texts = [
            event.text
            async for event in worker.stream(
                "owner", [Message("user", "one two three")], GenerationParams()
            )
            if isinstance(event, TextDelta)
        ]
        assert texts == ["three two one"]
    finally:
        await twin.aclose()


async def test_a_third_party_extractor_joins_the_registry(installed_plugin: None) -> None:
    registry = build_registry()
    assert "notes: notes.example pages" in registry.describe()
    assert registry.for_url("https://github.com/ann").name == "github"  # built-ins still there
    extractor = registry.for_url("https://notes.example/today")
    assert extractor.name == "notes"
    async with Fetcher() as fetcher:
        [document] = await extractor.extract("https://notes.example/today", fetcher)
    assert document.text == "Written by a plug-in."
