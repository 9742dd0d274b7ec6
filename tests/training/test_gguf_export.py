"""`llm-twin export gguf`: a run's PEFT LoRA as a GGUF LoRA adapter, on the real SmolLM2-135M.

The format tests read the written file back with `gguf.GGUFReader` and check it against
the base GGUF's own (Q4_1) weights: base + alpha/rank * B @ A, computed from the GGUF
tensors as llama.cpp does, equals the HF model's adapted weight in llama.cpp's row order.
The llama.cpp tests (skipped without llama-cpp-python) load it on the base GGUF and
compare with PEFT on the `hf` backend."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from bot.cli.main import cli
from bot.config import load_config
from bot.twin import Twin
from core.errors import ConfigError
from model.generator import GenerationParams, Message, TextDelta
from model.hf import HfGenerator, ModelSource, default_model_source
from training import gguf_export
from training.gguf_export import permute_rows, write_gguf_lora
from training.registry import Registry

pytestmark = pytest.mark.slow

MODULES = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
PROMPTS = [
    "Write a LinkedIn post about shipping software.",
    "What is the capital of France?",
    "Tell me a story about a cat.",
]
HEADS, KV_HEADS, LAYERS, RANK = 9, 3, 30, 8


def bundled_gguf() -> Path:
    source = default_model_source()
    assert source.gguf_file is not None
    return Path(source.location) / source.gguf_file


def make_lora(base: Path, target: Path, std: float, modules: list[str] = MODULES) -> Path:
    """A PEFT LoRA (rank 8, alpha 16) on `base` whose B matrices are random, not zero, so
    that it changes what the model writes."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    model: Any = AutoModelForCausalLM.from_pretrained(str(base))
    model = get_peft_model(model, LoraConfig(r=RANK, lora_alpha=16, target_modules=modules))
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.normal_(std=std)
    model.save_pretrained(str(target))
    return target


@pytest.fixture(scope="module")
def smol_lora(smol_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_lora(smol_dir, tmp_path_factory.mktemp("smol-lora"), std=0.1)


@pytest.fixture(scope="module")
def smol_gguf_lora(
    smol_dir: Path, smol_lora: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    target = tmp_path_factory.mktemp("gguf") / "tuned.gguf"
    write_gguf_lora(smol_lora, str(smol_dir), target, base_gguf=bundled_gguf())
    return target


# --- the format ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def base_tensors() -> dict[str, Any]:
    from gguf import GGUFReader

    return {tensor.name: tensor for tensor in GGUFReader(bundled_gguf()).tensors}


def field(reader: Any, key: str) -> Any:
    return reader.fields[key].contents()


def test_the_adapter_is_a_gguf_lora_under_llama_cpp_names(smol_gguf_lora: Path) -> None:
    from gguf import GGUFReader

    reader = GGUFReader(smol_gguf_lora)
    assert field(reader, "general.type") == "adapter"
    assert field(reader, "adapter.type") == "lora"
    assert field(reader, "adapter.lora.alpha") == 16.0
    assert field(reader, "general.architecture") == "llama"
    assert field(reader, "general.base_model.count") == 1
    assert field(reader, "general.base_model.0.name") == field(
        GGUFReader(bundled_gguf()), "general.name"
    )
    assert field(reader, "llm_twin.base_gguf") == bundled_gguf().name
    shapes = {t.name: [int(n) for n in t.shape] for t in reader.tensors}
    names = ["attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"]
    assert set(shapes) == {
        f"blk.{i}.{name}.weight.lora_{ab}" for i in range(LAYERS) for name in names for ab in "ab"
    }
    # ne order (fastest first): lora_a [in, rank], lora_b [rank, out]
    assert shapes["blk.0.attn_q.weight.lora_a"] == [576, RANK]
    assert shapes["blk.0.attn_q.weight.lora_b"] == [RANK, 576]
    assert shapes["blk.7.attn_k.weight.lora_b"] == [RANK, 192]
    assert shapes["blk.29.ffn_down.weight.lora_a"] == [1536, RANK]
    assert shapes["blk.29.ffn_down.weight.lora_b"] == [RANK, 576]
    assert all(t.tensor_type.name == "F32" for t in reader.tensors)


@pytest.mark.parametrize(
    ("hf_name", "gguf_name", "heads"),
    [("q_proj", "attn_q", HEADS), ("k_proj", "attn_k", KV_HEADS), ("v_proj", "attn_v", None)],
)
def test_the_adapted_weight_in_the_base_ggufs_layout_is_the_peft_one(
    smol_dir: Path,
    smol_lora: Path,
    smol_gguf_lora: Path,
    base_tensors: dict[str, Any],
    hf_name: str,
    gguf_name: str,
    heads: int | None,
) -> None:
    """W + alpha/rank * B @ A from the GGUF files (as llama.cpp computes it) is the HF
    model's W + PEFT's delta, with q and k rows in llama.cpp's (permuted) order."""
    import numpy as np
    from gguf import GGUFReader
    from gguf.quants import dequantize
    from safetensors import safe_open
    from safetensors.numpy import load_file

    layer = 3
    gguf = base_tensors[f"blk.{layer}.{gguf_name}.weight"]
    lora = {t.name: np.asarray(t.data) for t in GGUFReader(smol_gguf_lora).tensors}
    a, b = (lora[f"blk.{layer}.{gguf_name}.weight.lora_{ab}"] for ab in "ab")
    from_gguf = dequantize(gguf.data, gguf.tensor_type) + 16 / RANK * b @ a

    with safe_open(str(smol_dir / "model.safetensors"), "np") as weights:
        hf = weights.get_tensor(f"model.layers.{layer}.self_attn.{hf_name}.weight")
    peft = load_file(str(smol_lora / "adapter_model.safetensors"))
    key = f"base_model.model.model.layers.{layer}.self_attn.{hf_name}.lora_%s.weight"
    adapted = hf + 16 / RANK * peft[key % "B"] @ peft[key % "A"]
    expected = adapted if heads is None else permute_rows(adapted, heads)
    assert np.abs(from_gguf - expected).max() < 1e-5
    if heads is not None:  # without the permutation it would be far off
        assert np.abs(from_gguf - adapted).max() > 0.5


def test_a_base_gguf_of_another_model_is_refused_at_export(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    tiny = make_lora(tiny_model_dir, tmp_path / "tiny-lora", std=0.5)
    with pytest.raises(ConfigError, match="does not fit this adapter") as refused:
        write_gguf_lora(tiny, str(tiny_model_dir), tmp_path / "x.gguf", base_gguf=bundled_gguf())
    assert "blk.0.attn_k.weight is [576, 192], the adapter needs [64, 32]" in str(refused.value)
    assert not list(tmp_path.glob("*.gguf*"))


# --- llama.cpp reads it as PEFT means it ----------------------------------------------
#
# llama.cpp runs the bundled Q4_1 weights with 8-bit activations, hf their float32
# dequantization: the two bases alone differ by up to ~1.8 in a logit and even in the top
# token, which would hide a small error in the adapter. So the exactness checks run on a
# float32 copy of the same GGUF (the very weights hf runs; the bases then agree within
# ~0.03), and the bundled Q4_1 base shows that the shipped model takes the adapter.


@pytest.fixture(scope="module")
def float_gguf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled GGUF with its tensors dequantized to float32, metadata unchanged."""
    import gguf
    from gguf.quants import dequantize

    reader = gguf.GGUFReader(bundled_gguf())
    target = tmp_path_factory.mktemp("f32") / "smollm2-f32.gguf"
    writer = gguf.GGUFWriter(target, str(reader.fields["general.architecture"].contents()))
    for key, value in reader.fields.items():
        if key.startswith("GGUF.") or key in ("general.architecture", "general.file_type"):
            continue
        sub_type = value.types[-1] if value.types[0] == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(key, value.contents(), value.types[0], sub_type=sub_type)
    for tensor in reader.tensors:
        writer.add_tensor(tensor.name, dequantize(tensor.data, tensor.tensor_type))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return target


def llama_cpp_logits(base: Path, lora: Path | None, prompts: list[list[int]]) -> list[Any]:
    """Next-token logits after each prompt, from llama.cpp on `base` (+ `lora`)."""
    import numpy as np

    llama_cpp = pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed")
    llm = llama_cpp.Llama(
        model_path=str(base),
        lora_path=str(lora) if lora else None,
        n_ctx=256,
        n_threads=2,
        logits_all=True,
        verbose=False,
    )
    rows = []
    for ids in prompts:
        llm.reset()
        llm.eval(ids)
        rows.append(np.array(llm.scores[llm.n_tokens - 1]))
    llm.close()
    return rows


def hf_logits(base: Path, lora: Path | None, prompts: list[list[int]]) -> list[Any]:
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    model: Any = AutoModelForCausalLM.from_pretrained(str(base))
    if lora is not None:
        model = PeftModel.from_pretrained(model, str(lora))
    with torch.no_grad():
        return [model(input_ids=torch.tensor([ids])).logits[0, -1].numpy() for ids in prompts]


def chat_ids(smol: HfGenerator) -> list[list[int]]:
    rendered = [smol.render([Message("user", prompt)]) for prompt in PROMPTS]
    return [smol.tokenizer(text, add_special_tokens=False)["input_ids"] for text in rendered]


def test_llama_cpp_gives_the_logits_peft_gives(
    smol: HfGenerator,
    smol_dir: Path,
    smol_lora: Path,
    float_gguf: Path,
    tmp_path: Path,
) -> None:
    """Next-token logits on three chat prompts, llama.cpp (float32 base + the GGUF
    adapter) against PEFT (hf): as close as the two bases are without an adapter, while
    the adapter moves them by several logits; exported without the q/k permutation,
    llama.cpp's are far off. Measured: bases apart by at most 0.009-0.024, adapted
    models by 0.014-0.023, the adapter's largest move 5.5-6.4, the unpermuted export
    2.8-4.7 away from PEFT."""
    import numpy as np

    prompts = chat_ids(smol)
    adapter, unpermuted = tmp_path / "tuned.gguf", tmp_path / "unpermuted.gguf"
    write_gguf_lora(smol_lora, str(smol_dir), adapter, base_gguf=float_gguf)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(gguf_export, "PERMUTED_ARCHS", frozenset())
        write_gguf_lora(smol_lora, str(smol_dir), unpermuted, base_gguf=float_gguf)
    cpp_base = llama_cpp_logits(float_gguf, None, prompts)
    cpp_tuned = llama_cpp_logits(float_gguf, adapter, prompts)
    cpp_wrong = llama_cpp_logits(float_gguf, unpermuted, prompts)
    hf_base, hf_tuned = hf_logits(smol_dir, None, prompts), hf_logits(smol_dir, smol_lora, prompts)
    for i in range(len(prompts)):
        assert np.abs(cpp_base[i] - hf_base[i]).max() < 0.05
        assert np.abs(hf_tuned[i] - hf_base[i]).max() > 2.0  # the adapter does something
        assert np.abs(cpp_tuned[i] - hf_tuned[i]).max() < 0.05
        assert cpp_tuned[i].argmax() == hf_tuned[i].argmax()
        assert np.abs(cpp_wrong[i] - hf_tuned[i]).max() > 1.0


async def greedy(generator: Any, prompt: str, tokens: int = 24) -> str:
    params = GenerationParams(max_new_tokens=tokens, temperature=0.0, repetition_penalty=1.0)
    events = generator.stream([Message("user", prompt)], params)
    return "".join([e.text async for e in events if isinstance(e, TextDelta)])


async def test_the_llamacpp_backend_drafts_with_the_adapter_as_hf_does(
    smol: HfGenerator, smol_dir: Path, smol_lora: Path, float_gguf: Path, tmp_path: Path
) -> None:
    """Greedy drafts of 24 tokens: on the float32 base, llama.cpp with the GGUF adapter
    writes exactly what hf writes with the PEFT adapter, and not what the base writes."""
    pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed")
    from model.llamacpp import LlamaCppGenerator

    adapter = tmp_path / "tuned.gguf"
    write_gguf_lora(smol_lora, str(smol_dir), adapter, base_gguf=float_gguf)
    base = LlamaCppGenerator(float_gguf, max_seq_len=512, threads=2)
    tuned = LlamaCppGenerator(float_gguf, adapter=adapter, max_seq_len=512, threads=2)
    hf_tuned = HfGenerator(ModelSource(str(smol_dir)), adapter=smol_lora)
    try:
        assert tuned.model_version == "tuned"
        for prompt in PROMPTS:
            cpp_after, hf_after = await greedy(tuned, prompt), await greedy(hf_tuned, prompt)
            assert cpp_after == hf_after
            assert cpp_after != await greedy(base, prompt)
    finally:
        for generator in (base, tuned, hf_tuned):
            await generator.aclose()


async def test_the_bundled_quantized_base_takes_the_adapter(
    smol_gguf_lora: Path,
) -> None:
    pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed")
    from model.llamacpp import LlamaCppGenerator

    base = LlamaCppGenerator(bundled_gguf(), max_seq_len=512, threads=2)
    tuned = LlamaCppGenerator(bundled_gguf(), adapter=smol_gguf_lora, max_seq_len=512, threads=2)
    try:
        drafts = [(await greedy(base, p), await greedy(tuned, p)) for p in PROMPTS]
        assert all(after and after != before for before, after in drafts), drafts
    finally:
        await base.aclose()
        await tuned.aclose()


def test_llama_cpp_refuses_an_adapter_made_for_another_base(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed")
    from model.llamacpp import LlamaCppGenerator

    tiny = make_lora(tiny_model_dir, tmp_path / "tiny-lora", std=0.5)
    adapter = tmp_path / "tiny.gguf"
    write_gguf_lora(tiny, str(tiny_model_dir), adapter)  # no base GGUF to check against
    with pytest.raises(ConfigError) as refused:
        LlamaCppGenerator(bundled_gguf(), adapter=adapter, max_seq_len=256, threads=2)
    message = str(refused.value)
    assert "\n" not in message and str(adapter) in message and "llm-twin export gguf" in message


# --- the command ----------------------------------------------------------------------


def registry() -> tuple[Twin, Registry]:
    twin = Twin(load_config({}))
    return twin, twin.models


def register(models: Registry, run_id: str, base: Path, adapter: Path, **paths: str) -> None:
    models.start(
        base_model=str(base), dataset_hash="abc", dataset_folder="/data", config={}, run_id=run_id
    )
    models.add_paths(run_id, adapter=str(adapter), **paths)


def export(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["export", "gguf", *args])
    return result.exit_code, result.output  # stdout and stderr


def test_export_gguf_writes_the_adapter_a_modelfile_and_the_server_line(
    smol_dir: Path, smol_lora: Path, twin_home: Path
) -> None:
    twin, models = registry()
    try:
        register(models, "r1", smol_dir, smol_lora, run=str(twin_home / "runs" / "r1"))
        code, output = export()
        assert code == 2 and "there is no trained run yet" in output
        code, output = export("r1")
        assert code == 2 and "r1: this run is running; only a trained run is exported" in output

        models.add_paths("r1", base_gguf=str(bundled_gguf()))
        models.finish("r1")
        code, output = export()  # the latest trained run
        assert code == 0, output
        folder = twin_home / "runs" / "r1" / "gguf"
        adapter = folder / "r1.gguf"
        assert models.require("r1").paths["gguf_adapter"] == str(adapter)
        lines = output.splitlines()
        assert lines[0] == f"wrote {adapter} (210 LoRA tensor pairs, llama, alpha 16)"
        command = ["llama-server", "-m", str(bundled_gguf()), "--lora", str(adapter)]
        assert f"serve it with llama.cpp: {shlex.join([*command, '--port', '8080'])}" in lines
        assert f'model.backend = "llamacpp", model.path = "{bundled_gguf()}"' in output
        modelfile = (folder / "Modelfile").read_text()
        assert f"wrote {folder / 'Modelfile'}: ollama create twin -f" in output
        assert f"\nFROM {bundled_gguf()}\nADAPTER {adapter}\n" in modelfile
        assert (
            'TEMPLATE """{{- range .Messages }}<|im_start|>{{ .Role }}\n{{ .Content }}<|im_end|>\n'
            '{{ end }}<|im_start|>assistant\n"""\n'
        ) in modelfile
        assert (
            'SYSTEM """You are a helpful AI assistant named SmolLM, trained by Hugging Face"""'
            in modelfile
        )
        assert modelfile.endswith('PARAMETER stop "<|im_end|>"\n')
    finally:
        twin.close()


def test_without_a_base_gguf_the_adapter_is_written_and_the_base_left_to_fill(
    smol_dir: Path, smol_lora: Path, twin_home: Path, tmp_path: Path
) -> None:
    twin, models = registry()
    try:
        register(models, "r2", smol_dir, smol_lora)
        models.finish("r2")
        code, output = export("r2", "--out", str(tmp_path / "out"))
    finally:
        twin.close()
    assert code == 0, output
    assert f"python convert_hf_to_gguf.py {smol_dir} --outfile base.gguf" in output
    assert "--base-gguf base.gguf (or replace <BASE_GGUF> below)" in output
    adapter = tmp_path / "out" / "r2.gguf"
    assert f"llama-server -m '<BASE_GGUF>' --lora {adapter} --port 8080" in output
    assert "model.backend" not in output
    modelfile = (tmp_path / "out" / "Modelfile").read_text()
    assert f"\nFROM <BASE_GGUF>\nADAPTER {adapter}\n" in modelfile


def test_a_run_records_the_gguf_its_base_came_from(tmp_path: Path) -> None:
    from types import SimpleNamespace
    from typing import cast

    from model.settings import ModelSettings
    from training.context import TrainingContext
    from training.run import training_base_gguf
    from training.settings import TrainingSettings

    def context(base_model: str, model_path: str = "") -> TrainingContext:
        settings = TrainingSettings(base_model=base_model)
        return cast(
            TrainingContext,
            SimpleNamespace(settings=settings, model=ModelSettings(path=model_path)),
        )

    assert training_base_gguf(context(str(bundled_gguf()))) == str(bundled_gguf())
    assert training_base_gguf(context("")) == str(bundled_gguf())  # the default model
    assert training_base_gguf(context(str(tmp_path))) == ""  # an HF folder
