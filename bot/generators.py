"""Choosing and loading the generation backend from `[model]` config.

Each backend is imported only when chosen: exllamav2 cannot even be imported without
CUDA, and the `openai` backend needs no torch model at all.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import cast

from bot.config import MODEL_BACKENDS, ModelConfig, secret
from model.generator import Generator
from retrieval.errors import ConfigError


async def open_generator(cfg: ModelConfig, cache_dir: Path) -> Generator:
    """Load (or reach) the configured model now; a missing model fails here, with the fix."""
    if cfg.backend == "openai":
        from model.openai_compat import OpenAIGenerator

        return await OpenAIGenerator.connect(
            cfg.url,
            cfg.name,
            api_key=secret("model", "api_key"),
            context_length=cfg.max_seq_len,
        )
    if cfg.backend in MODEL_BACKENDS:
        return await asyncio.to_thread(_load_local, cfg, cache_dir)
    raise ConfigError(f"model.backend {cfg.backend!r} is not one of {', '.join(MODEL_BACKENDS)}")


def _load_local(cfg: ModelConfig, cache_dir: Path) -> Generator:
    """The hf and exl2 backends load weights in this process (seconds: off the loop)."""
    adapter = Path(cfg.adapter).expanduser() if cfg.adapter else None
    if cfg.backend == "exl2":
        from model.exl2 import CacheKind, Exl2Generator

        if not cfg.path:
            raise ConfigError(
                "model.backend is exl2 but model.path is empty; point it at an EXL2 model folder"
            )
        return Exl2Generator(
            Path(cfg.path).expanduser(),
            max_seq_len=cfg.max_seq_len,
            cache=cast(CacheKind, cfg.cache),
            lora_dir=adapter,
        )
    from model.hf import HfGenerator, resolve_model_source

    return HfGenerator(
        resolve_model_source(cfg.path, cfg.gguf_file),
        adapter=adapter,
        device=cfg.device,
        max_seq_len=cfg.max_seq_len,
        threads=cfg.threads,
        cache_dir=cache_dir,
    )
