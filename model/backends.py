"""Opening the generation backend `[model]` names, by its registered name.

Backends are entry points of group `llm_twin.generators` (core/plugins.py): a `Generator`
class with an async `from_settings(settings, *, cache_dir, api_key)`. Each is imported only
when chosen: exllamav2 cannot even be imported without CUDA, and the `openai` backend
needs no torch model at all.
"""

from __future__ import annotations

from pathlib import Path

from core import plugins
from model.generator import Generator
from model.settings import ModelSettings


async def open_generator(
    settings: ModelSettings, *, cache_dir: Path, api_key: str | None = None
) -> Generator:
    """Load (or reach) the configured model now; a missing model fails here, with the fix."""
    backend = plugins.load(plugins.GENERATORS, settings.backend, key="model.backend")
    generator: Generator = await backend.from_settings(
        settings, cache_dir=cache_dir, api_key=api_key
    )
    return generator
