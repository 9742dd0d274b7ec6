"""The `hf` backend on the real SmolLM2-135M-Instruct GGUF and a tiny random Llama."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from core.errors import ConfigError
from model.generator import Finished, GenerationEvent, GenerationParams, Message, TextDelta
from model.hf import HfGenerator, ModelSource, default_model_source, resolve_model_source

pytestmark = pytest.mark.slow

ASK = [
    Message("system", "You are a concise writer."),
    Message("user", "Write one sentence about why tests matter."),
]
GREEDY = GenerationParams(max_new_tokens=24, temperature=0.0)


async def collect(generator: HfGenerator, params: GenerationParams) -> list[GenerationEvent]:
    return [event async for event in generator.stream(ASK, params)]


async def test_streams_text_deltas_then_one_finished(smol: HfGenerator) -> None:
    events = await collect(smol, GREEDY)
    *deltas, last = events
    assert deltas and all(isinstance(e, TextDelta) and e.text for e in deltas)
    assert isinstance(last, Finished)
    assert last.finish_reason in ("stop", "length")
    assert 0 < last.completion_tokens <= GREEDY.max_new_tokens
    assert last.prompt_tokens == smol.count_tokens(ASK)
    assert last.time_to_first_token > 0 and last.tokens_per_second > 0
    text = "".join(e.text for e in deltas if isinstance(e, TextDelta))
    assert len(text.split()) >= 3


async def test_greedy_is_deterministic_and_sampling_honours_the_seed(smol: HfGenerator) -> None:
    first = await collect(smol, GREEDY)
    second = await collect(smol, GREEDY)
    assert first[:-1] == second[:-1]
    sampled = GenerationParams(max_new_tokens=16, temperature=1.0, seed=7)
    a = await collect(smol, sampled)
    b = await collect(smol, sampled)
    assert a[:-1] == b[:-1]
    others = [
        await collect(smol, GenerationParams(max_new_tokens=16, temperature=1.0, seed=seed))
        for seed in (8, 9)
    ]
    # sampling really samples: other seeds (and greedy) give other text
    assert any(o[:-1] != a[:-1] for o in [*others, first])


def test_the_models_chat_template_is_applied(smol: HfGenerator) -> None:
    rendered = smol.render(ASK)
    assert rendered.startswith("<|im_start|>system\nYou are a concise writer.<|im_end|>")
    assert rendered.endswith("<|im_start|>assistant\n")


async def test_a_stop_string_ends_the_text_before_it(smol: HfGenerator) -> None:
    full = "".join(e.text for e in await collect(smol, GREEDY) if isinstance(e, TextDelta))
    word = full.split()[3]
    events = await collect(smol, GenerationParams(max_new_tokens=24, temperature=0.0, stop=(word,)))
    text = "".join(e.text for e in events if isinstance(e, TextDelta))
    assert text == full[: full.find(word)]
    finished = events[-1]
    assert isinstance(finished, Finished) and finished.finish_reason == "stop"


async def test_closing_the_stream_stops_generation(smol: HfGenerator) -> None:
    before = smol.generated_tokens
    stream = smol.stream(ASK, GenerationParams(max_new_tokens=400, temperature=0.0))
    seen = 0
    async for event in stream:
        assert isinstance(event, TextDelta)
        seen += 1
        if seen == 2:
            break
    await stream.aclose()
    # The generator thread runs one job at a time: this one starts only once the
    # abandoned one has returned, so the token count below is final for both.
    after = await collect(smol, GenerationParams(max_new_tokens=4, temperature=0.0))
    assert isinstance(after[-1], Finished)
    assert smol.generated_tokens - before < 40  # not the 400 the first job asked for


async def test_two_concurrent_streams_both_finish(smol: HfGenerator) -> None:
    a, b = await asyncio.gather(collect(smol, GREEDY), collect(smol, GREEDY))
    assert isinstance(a[-1], Finished) and isinstance(b[-1], Finished)
    assert a[:-1] == b[:-1]  # the same greedy text: neither stream saw the other's tokens


def test_the_default_model_is_the_bundled_smollm2_gguf() -> None:
    source = default_model_source()
    assert source.gguf_file == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert (Path(source.location) / source.gguf_file).stat().st_size > 50_000_000


def test_a_gguf_is_dequantized_once_into_the_cache(smol: HfGenerator, model_cache: Path) -> None:
    folders = [p for p in model_cache.iterdir() if p.name.startswith("SmolLM2-135M-Instruct")]
    assert len(folders) == 1
    assert (folders[0] / "model.safetensors").is_file()
    config = json.loads((folders[0] / "config.json").read_text())
    assert config["rope_theta"] == 100000.0  # top level too, where exllamav2 reads it
    assert smol.model_id.endswith("SmolLM2-135M-Instruct.Q4_1.gguf")  # named for its source


async def test_a_lora_adapter_changes_the_output(tiny_model_dir: Path, tmp_path: Path) -> None:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(1)
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    lora = LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    adapter_dir = tmp_path / "sam-v1"
    get_peft_model(base, lora).save_pretrained(str(adapter_dir))

    params = GenerationParams(max_new_tokens=8, temperature=0.0, repetition_penalty=1.0)
    plain = HfGenerator(ModelSource(str(tiny_model_dir)))
    tuned = HfGenerator(ModelSource(str(tiny_model_dir)), adapter=adapter_dir)
    try:
        assert (plain.model_version, tuned.model_version) == ("base", "sam-v1")
        out_plain = [e async for e in plain.stream(ASK, params)]
        out_tuned = [e async for e in tuned.stream(ASK, params)]
        assert out_plain[:-1] != out_tuned[:-1]
    finally:
        await plain.aclose()
        await tuned.aclose()


def test_a_folder_that_is_not_an_adapter_fails_start_up(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError, match="not a PEFT LoRA adapter folder"):
        HfGenerator(ModelSource(str(tiny_model_dir)), adapter=tmp_path)


def test_missing_or_corrupt_models_fail_start_up_with_the_fix(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"model\.path .*missing\.gguf does not exist"):
        resolve_model_source(str(tmp_path / "missing.gguf"))
    with pytest.raises(ConfigError, match="cannot load the model"):
        HfGenerator(ModelSource(str(tmp_path)))  # a folder with no weights
    corrupt = tmp_path / "broken.gguf"
    corrupt.write_bytes(b"GGUF" + b"\0" * 64)
    with pytest.raises(ConfigError, match="cannot load the model"):
        HfGenerator(resolve_model_source(str(corrupt)))
    with pytest.raises(ConfigError, match="nothing is downloaded at run time"):
        HfGenerator(resolve_model_source("no-such-org/no-such-model"))


def test_cuda_without_a_gpu_names_the_fix(tiny_model_dir: Path) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(ConfigError, match='set model\\.device = "cpu"'):
        HfGenerator(ModelSource(str(tiny_model_dir)), device="cuda")
