"""Choosing and loading the generation backend from `[model]` config.

Each backend is imported only when chosen: exllamav2 cannot even be imported without
CUDA, and the `openai` backend needs no torch model at all.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path
from typing import cast

from bot.config import secret
from core.errors import ConfigError
from model.generator import Generator
from model.settings import MODEL_BACKENDS, ModelSettings
from training.registry import Run


async def open_generator(cfg: ModelSettings, cache_dir: Path, run: Run | None = None) -> Generator:
    """Load (or reach) the configured model now; a missing model fails here, with the fix.

    `run`: a trained run from the registry to serve instead: its adapter on its base with
    hf, its EXL2 build with exl2 (`llm-twin quantize` makes it). The openai backend
    serves whatever its server loaded, so a run cannot be swapped in there."""
    if run is not None:
        cfg = run_model_config(cfg, run)
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


def run_model_config(cfg: ModelSettings, run: Run) -> ModelSettings:
    """`[model]` pointed at what `run` trained, or a ConfigError saying why it cannot be."""
    if cfg.backend == "openai":
        raise ConfigError(
            f"model.backend is openai: load run {run.id}'s merged model "
            f"({run.paths.get('merged') or 'llm-twin quantize ' + run.id + ' makes it'}) "
            "on the server instead"
        )
    if cfg.backend == "exl2":
        exl2 = run.paths.get("exl2")
        if not exl2:
            raise ConfigError(
                f"run {run.id} has no EXL2 build for the exl2 backend; run "
                f"`llm-twin quantize {run.id}` on a CUDA machine"
            )
        return replace(cfg, path=exl2, adapter="")
    adapter = run.paths.get("adapter")
    if not adapter:
        raise ConfigError(f"run {run.id} has no adapter; it did not finish training")
    return replace(cfg, path=run.base_model, gguf_file="", adapter=adapter)


def _load_local(cfg: ModelSettings, cache_dir: Path) -> Generator:
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
