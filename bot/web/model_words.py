"""The model that drafts, named in words: "SmolLM2-135M-Instruct (bundled demo model,
GGUF)" rather than a path in site-packages. The page shows it on every draft and warns
when the bundled demo model is the one drafting."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.errors import ConfigError

# Quantization suffixes in GGUF file names: SmolLM2-135M-Instruct.Q4_1, model-q8_0, ...-F16.
_QUANT = re.compile(r"[.\-_](?:I?Q\d\w*|F16|F32|BF16)$", re.IGNORECASE)
_HUB_SNAPSHOT = re.compile(r"models--([^/\\]+)--([^/\\]+)[/\\]snapshots[/\\]")


@dataclass(frozen=True)
class ModelName:
    name: str  # e.g. SmolLM2-135M-Instruct
    kind: str  # GGUF, HF folder, EXL2, hub id, served over the OpenAI API
    demo: bool  # the bundled SmolLM2-135M: fine for trying things, not for real drafts

    @property
    def words(self) -> str:
        return f"{self.name} ({'bundled demo model, ' if self.demo else ''}{self.kind})"


@functools.cache
def _bundled_path() -> Path | None:
    from model.hf import default_model_source

    try:
        source = default_model_source()
    except ConfigError:
        return None
    return (Path(source.location) / (source.gguf_file or "")).resolve()


def name_model(model_id: str, backend: str) -> ModelName:
    """What `model_id` (a generator's, as drafts record it) is, for a person."""
    if backend == "openai":
        return ModelName(model_id, "served over the OpenAI API", False)
    text = model_id.strip()
    bundled = _bundled_path()
    path = Path(text)
    demo = bundled is not None and path.is_absolute() and path.resolve() == bundled
    if text.lower().endswith(".gguf"):
        return ModelName(_QUANT.sub("", path.stem), "GGUF", demo)
    hub = _HUB_SNAPSHOT.search(text)
    if hub:
        return ModelName(hub.group(2), "HF folder", False)
    if backend == "exl2":
        return ModelName(path.name, "EXL2", False)
    if path.is_absolute() or text.startswith((".", "~")):
        return ModelName(path.name, "HF folder", False)
    return ModelName(text.rsplit("/", 1)[-1], "hub id " + text, False)


def model_json(model_id: str, backend: str, version: str) -> dict[str, Any]:
    """The model as the API gives it: words, backend, version (base or a run id), demo."""
    named = name_model(model_id, backend)
    words = named.words if version == "base" else f"{named.words}, fine-tuned run {version}"
    return {
        "name": words,
        "backend": backend,
        "version": version,
        "demo": named.demo,
        "path": model_id,
    }
