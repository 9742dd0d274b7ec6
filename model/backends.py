"""Choosing and opening the generation backend `[model]` names, by its registered name.

Backends are entry points of group `llm_twin.generators` (core/plugins.py): a `Generator`
class with an async `from_settings(settings, *, cache_dir, api_key)`. Each is imported only
when chosen: exllamav2 cannot even be imported without CUDA, and the `openai` backend
needs no torch model at all.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from core import plugins
from model.generator import Generator
from model.llamacpp import llama_cpp_available
from model.settings import ModelSettings


def with_backend(settings: ModelSettings) -> ModelSettings:
    """`[model]` with its backend chosen: an explicit `model.backend` always wins; empty
    means llamacpp for a GGUF model (the bundled default included) when llama-cpp-python is
    installed, else hf."""
    if settings.backend:
        return settings
    gguf = not settings.path or settings.path.endswith(".gguf") or bool(settings.gguf_file)
    fast = gguf and llama_cpp_available()
    return replace(settings, backend="llamacpp" if fast else "hf")


async def open_generator(
    settings: ModelSettings, *, cache_dir: Path, api_key: str | None = None
) -> Generator:
    """Load (or reach) the configured model now; a missing model fails here, with the fix."""
    settings = with_backend(settings)
    backend = plugins.load(plugins.GENERATORS, settings.backend, key="model.backend")
    generator: Generator = await backend.from_settings(
        settings, cache_dir=cache_dir, api_key=api_key
    )
    return generator
