"""Models for the model tests: the real SmolLM2 GGUF (loaded once per session) and a tiny
random Llama that shares its tokenizer and chat template (for fast adapter tests)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from model.hf import HfGenerator, default_model_source


@pytest.fixture(scope="session")
def smol(model_cache: Path) -> Iterator[HfGenerator]:
    generator = HfGenerator(default_model_source(), cache_dir=model_cache)
    yield generator
    generator._executor.shutdown(wait=True, cancel_futures=True)


@pytest.fixture(scope="session")
def tiny_model_dir(smol: HfGenerator, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer random Llama with SmolLM2's tokenizer, saved as an HF folder."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(smol.tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        eos_token_id=smol.tokenizer.eos_token_id,
        bos_token_id=smol.tokenizer.bos_token_id,
    )
    target = tmp_path_factory.mktemp("tiny-llama")
    LlamaForCausalLM(config).save_pretrained(target)
    smol.tokenizer.save_pretrained(target)
    return target
