"""The model that drafts, named in words: "SmolLM2-135M-Instruct (bundled demo model,
GGUF)" rather than a path in site-packages. The CLI's draft footer, `status`, `models`,
the chat footers and the web page all name it this way, and warn when the bundled demo
model is the one drafting (`DEMO_NOTE`)."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.errors import ConfigError

if TYPE_CHECKING:
    from model.settings import ModelSettings

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


DEMO_NOTE = (
    "the bundled SmolLM2-135M demo model wrote this: it shows the pipeline working, but its "
    "drafts are rough; for real drafts pull a real model (llm-twin models pull, see the "
    "README's Models) and set model.path (config.toml or the web page's Settings)"
)


def describe_model(model_id: str, backend: str, version: str) -> str:
    """One line for footers and status, with the backend and the version: "SmolLM2-135M-
    Instruct (bundled demo model, GGUF) · llamacpp · base"."""
    return f"{name_model(model_id, backend).words} · {backend} · {version}"


def configured_model(settings: ModelSettings) -> str:
    """The `[model]` the config names, in words (the base model of `models`)."""
    if settings.backend == "openai":
        return name_model(settings.name or settings.url, "openai").words
    if not settings.path:
        bundled = _bundled_path()
        return name_model(str(bundled), "llamacpp").words if bundled else "none (see model.path)"
    return name_model(str(Path(settings.path).expanduser().resolve()), settings.backend).words


def is_demo(model_id: str, backend: str) -> bool:
    """Whether the bundled demo model is the one drafting."""
    return name_model(model_id, backend).demo


_demo_noted: set[str] = set()  # the demo models this process has warned about


def demo_note_once(model_id: str, backend: str) -> str | None:
    """`DEMO_NOTE` for the first draft of this process written by the demo model; None
    after that, and for any other model."""
    if model_id in _demo_noted or not is_demo(model_id, backend):
        return None
    _demo_noted.add(model_id)
    return DEMO_NOTE


def model_json(model_id: str, backend: str, version: str) -> dict[str, Any]:
    """The model as the API gives it: words, backend, version (base or a run id), demo."""
    named = name_model(model_id, backend)
    if version == "base":
        words = named.words
    elif backend == "openai":  # the server's own version string
        words = f"{named.words}, version {version}"
    else:
        words = f"{named.words}, fine-tuned run {version}"
    return {
        "name": words,
        "backend": backend,
        "version": version,
        "demo": named.demo,
        "path": model_id,
    }
