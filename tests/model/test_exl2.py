"""The exl2 backend. On a machine without CUDA (CI) only the start-up errors run; the
`gpu` tests build a tiny random Llama, quantize it to EXL2 with exllamav2's own converter
(through `training.quantize`), and stream from it through `Exl2Generator`."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from core.errors import ConfigError
from model.generator import Finished, GenerationParams, Message, TextDelta


def cuda() -> bool:
    import torch

    return bool(torch.cuda.is_available())


@pytest.mark.skipif(cuda(), reason="checks the error shown where there is no GPU")
def test_without_cuda_the_backend_says_what_to_do(tmp_path: Path) -> None:
    from model.exl2 import Exl2Generator

    with pytest.raises(ConfigError, match="needs a CUDA GPU") as info:
        Exl2Generator(tmp_path)
    assert "model.backend" in str(info.value)


CALIBRATION = (
    "The owner writes short posts about machine learning, retrieval and evaluation. "
    "Ship the small model first. Measure recall before you tune a learning rate. "
) * 40


def build_tiny_model(root: Path) -> Path:
    """A 2-layer random Llama with a small trained BPE tokenizer, in HF format."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    hf = root / "hf"
    hf.mkdir()
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(
        vocab_size=1024,
        special_tokens=["<unk>", "<s>", "</s>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator([CALIBRATION], trainer)
    fast = PreTrainedTokenizerFast(  # type: ignore[no-untyped-call]
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>"
    )
    fast.chat_template = (
        "{% for m in messages %}<s>{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
        "{% if add_generation_prompt %}assistant:{% endif %}"
    )
    fast.save_pretrained(hf)
    config = LlamaConfig(
        vocab_size=1024,
        hidden_size=512,
        intermediate_size=1024,
        num_hidden_layers=2,
        num_attention_heads=8,
        num_key_value_heads=8,
        max_position_embeddings=2048,
        bos_token_id=1,
        eos_token_id=2,
        tie_word_embeddings=False,
    )
    torch.manual_seed(0)
    model: Any = LlamaForCausalLM(config)
    model.half().save_pretrained(hf)
    return hf


@pytest.fixture(scope="module")
def exl2_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from transformers import AutoTokenizer

    from training.quantize import quantize_exl2, write_calibration

    root = tmp_path_factory.mktemp("exl2")
    hf = build_tiny_model(root)
    tokenizer: Any = AutoTokenizer.from_pretrained(str(hf))
    cal = write_calibration(
        [CALIBRATION],
        root / "cal.parquet",
        rows=4,
        length=256,
        count_tokens=lambda text: len(tokenizer(text)["input_ids"]),
    )
    result = quantize_exl2(
        hf,
        root / "exl2",
        bits=4.0,
        head_bits=6,
        work_dir=root / "work",
        calibration=cal,
        rows=4,
        measurement_rows=4,
        length=256,
        measurement_length=256,
    )
    assert (
        json.loads((result.out_dir / "config.json").read_text())["quantization_config"]["bits"]
        == 4.0
    )
    return result.out_dir


@pytest.mark.gpu
async def test_streams_deltas_then_one_finished(exl2_model: Path) -> None:
    from model.exl2 import Exl2Generator

    generator = Exl2Generator(exl2_model, max_seq_len=512, cache="q4", max_batch_size=4)
    try:
        events = [
            event
            async for event in generator.stream(
                [Message("user", "Write a post about retrieval.")],
                GenerationParams(max_new_tokens=24, seed=1),
            )
        ]
    finally:
        await generator.aclose()
    *deltas, last = events
    assert deltas and all(isinstance(d, TextDelta) for d in deltas)
    assert isinstance(last, Finished)
    assert last.prompt_tokens > 0 and 0 < last.completion_tokens <= 24
    assert last.finish_reason in ("length", "stop")
    assert last.time_to_first_token > 0 and last.tokens_per_second > 0
    print(f"\nexl2 tiny model (paged={generator.paged}): {last}")


@pytest.mark.gpu
async def test_concurrent_streams_batch_and_cancel(exl2_model: Path) -> None:
    from model.exl2 import Exl2Generator

    generator = Exl2Generator(exl2_model, max_seq_len=512, cache="q6", max_batch_size=4)
    params = GenerationParams(max_new_tokens=64, seed=2)

    async def collect(prompt: str) -> Finished:
        async for event in generator.stream([Message("user", prompt)], params):
            if isinstance(event, Finished):
                return event
        raise AssertionError("no Finished event")

    async def first_delta_then_stop() -> None:
        async for event in generator.stream([Message("user", "cancel me")], params):
            assert isinstance(event, TextDelta)
            break  # closing the stream cancels the job

    try:
        results = await asyncio.gather(
            *(collect(f"prompt {i}") for i in range(4)), first_delta_then_stop()
        )
        assert all(isinstance(r, Finished) for r in results[:4])
        # The worker survives the cancellation and serves the next request.
        again = await collect("after the cancellation")
        assert again.completion_tokens > 0
    finally:
        await generator.aclose()


@pytest.mark.gpu
def test_missing_model_fails_at_start(tmp_path: Path) -> None:
    from model.exl2 import Exl2Generator

    with pytest.raises(ConfigError, match="not an EXL2 model folder"):
        Exl2Generator(tmp_path / "nothing-here")
