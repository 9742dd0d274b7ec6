"""Export: merging a LoRA adapter into its base (real PEFT on a tiny random Llama with
SmolLM2's tokenizer), and EXL2 quantization.

Without CUDA the quantizer only refuses, saying what to do; its subprocess handling
(progress lines, measurement reuse, failures, complete-or-absent output) runs against a
stand-in converter script that takes the real converter's flags. The `gpu` test runs
exllamav2's own converter."""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path
from typing import Any

import pytest

from core.errors import ConfigError, GenerationError, InputError
from training import export, quantize
from training.export import merge_adapter
from training.quantize import (
    QuantizeResult,
    cuda_missing_reason,
    default_measurement_path,
    quantize_exl2,
    write_calibration,
)

pytestmark = pytest.mark.slow
PROMPT_IDS = [[1, 520, 1070, 4087, 282, 253, 1789, 28, 4234, 30, 2]]


@pytest.fixture(scope="module")
def adapter_dir(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A LoRA on q/k/v/o whose B matrices are random (not the usual zeros), so merging
    it changes the model's outputs."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(1)
    base = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir))
    config = LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "k_proj", "v_proj", "o_proj"])
    model: Any = get_peft_model(base, config)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.normal_(std=0.5)
    target = tmp_path_factory.mktemp("adapter")
    model.save_pretrained(str(target))
    return target


def logits(model: Any) -> Any:
    import torch

    with torch.no_grad():
        return model(input_ids=torch.tensor(PROMPT_IDS)).logits


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".partial-" in p.name or ".old-" in p.name)


def test_merged_weights_give_the_adapted_models_logits(
    tiny_model_dir: Path, adapter_dir: Path, tmp_path: Path
) -> None:
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    merged_dir = merge_adapter(tiny_model_dir, adapter_dir, tmp_path / "merged")

    assert merged_dir == tmp_path / "merged"
    merged = AutoModelForCausalLM.from_pretrained(str(merged_dir))
    assert not any("lora" in name for name, _ in merged.named_parameters())
    base = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir))
    base_logits = logits(base)
    adapted_logits = logits(PeftModel.from_pretrained(base, str(adapter_dir)))
    merged_logits = logits(merged)
    assert torch.allclose(merged_logits, adapted_logits, atol=1e-4)
    assert not torch.allclose(merged_logits, base_logits, atol=1e-2)
    assert leftovers(tmp_path) == []


async def test_merged_folder_serves_through_the_hf_backend(
    tiny_model_dir: Path, adapter_dir: Path, tmp_path: Path
) -> None:
    from transformers import AutoTokenizer

    from model.generator import Finished, GenerationParams, Message
    from model.hf import HfGenerator, ModelSource

    merged_dir = merge_adapter(tiny_model_dir, adapter_dir, tmp_path / "merged")

    names = {p.name for p in merged_dir.iterdir()}
    assert {"config.json", "generation_config.json", "model.safetensors"} <= names
    assert not {"adapter_config.json", "adapter_model.safetensors"} & names
    config = json.loads((merged_dir / "config.json").read_text())
    # exllamav2's converter reads rope_theta at the top level only (see model/gguf.py).
    assert config["rope_theta"] == config["rope_parameters"]["rope_theta"]
    base_tokenizer = AutoTokenizer.from_pretrained(str(tiny_model_dir))
    generator = HfGenerator(ModelSource(str(merged_dir)))
    try:
        assert generator.tokenizer.chat_template == base_tokenizer.chat_template
        rendered = generator.render([Message("user", "Write about retrieval.")])
        assert "<|im_start|>user\nWrite about retrieval.<|im_end|>" in rendered
        assert rendered.endswith("<|im_start|>assistant\n")
        events = [
            event
            async for event in generator.stream(
                [Message("user", "Write about retrieval.")],
                GenerationParams(max_new_tokens=4, temperature=0.0),
            )
        ]
        assert isinstance(events[-1], Finished) and events[-1].completion_tokens > 0
    finally:
        await generator.aclose()


def test_an_existing_merge_is_kept_unless_overwrite(
    tiny_model_dir: Path, adapter_dir: Path, tmp_path: Path
) -> None:
    out = merge_adapter(tiny_model_dir, adapter_dir, tmp_path / "merged")
    weights = out / "model.safetensors"
    os.utime(weights, ns=(0, 0))

    assert merge_adapter(tiny_model_dir, adapter_dir, out) == out
    assert weights.stat().st_mtime_ns == 0

    merge_adapter(tiny_model_dir, adapter_dir, out, overwrite=True)
    assert weights.stat().st_mtime_ns > 0
    assert leftovers(tmp_path) == []


def test_a_failed_save_leaves_no_half_folder_and_keeps_the_old_one(
    tiny_model_dir: Path, adapter_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def disk_full(path: Path) -> None:  # the last write, after weights and tokenizer
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(export, "copy_rope_theta_to_top_level", disk_full)
    with pytest.raises(OSError, match="No space left"):
        merge_adapter(tiny_model_dir, adapter_dir, tmp_path / "merged")
    assert sorted(p.name for p in tmp_path.iterdir()) == []

    monkeypatch.undo()
    out = merge_adapter(tiny_model_dir, adapter_dir, tmp_path / "merged")
    before = sorted(p.name for p in out.iterdir())
    monkeypatch.setattr(export, "copy_rope_theta_to_top_level", disk_full)
    with pytest.raises(OSError, match="No space left"):
        merge_adapter(tiny_model_dir, adapter_dir, out, overwrite=True)
    assert sorted(p.name for p in out.iterdir()) == before
    assert leftovers(tmp_path) == []


def test_missing_inputs_name_the_path_and_the_fix(
    tiny_model_dir: Path, adapter_dir: Path, tmp_path: Path
) -> None:
    missing = tmp_path / "no-adapter"
    with pytest.raises(ConfigError, match=r"adapter folder .* does not exist") as info:
        merge_adapter(tiny_model_dir, missing, tmp_path / "merged")
    assert str(missing) in str(info.value) and "PEFT LoRA adapter" in str(info.value)

    with pytest.raises(ConfigError, match=r"has no adapter_config.json"):
        merge_adapter(tiny_model_dir, tiny_model_dir, tmp_path / "merged")

    with pytest.raises(ConfigError, match=r"base model folder .* does not exist") as info:
        merge_adapter(tmp_path / "no-base", adapter_dir, tmp_path / "merged")
    assert "training.base_model" in str(info.value)
    assert not (tmp_path / "merged").exists()


def test_an_adapter_for_another_base_is_refused(
    tiny_model_dir: Path, adapter_dir: Path, tmp_path: Path
) -> None:
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(str(tiny_model_dir))
    other = tmp_path / "other-base"
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=2,
    )
    LlamaForCausalLM(config).save_pretrained(str(other))
    tokenizer.save_pretrained(str(other))

    with pytest.raises(ConfigError, match=r"cannot apply the adapter .* trained on"):
        merge_adapter(other, adapter_dir, tmp_path / "merged")
    assert leftovers(tmp_path) == [] and not (tmp_path / "merged").exists()


# --- quantization without CUDA ------------------------------------------------------------


def cuda() -> bool:
    import torch

    return bool(torch.cuda.is_available())


@pytest.mark.skipif(cuda(), reason="checks the refusal shown where there is no GPU")
def test_without_cuda_quantizing_says_to_serve_through_hf(tmp_path: Path) -> None:
    reason = cuda_missing_reason()
    assert reason is not None and "CUDA" in reason and "hf backend" in reason
    assert "\n" not in reason

    model = tmp_path / "merged"
    model.mkdir()
    (model / "config.json").write_text("{}")
    with pytest.raises(ConfigError) as info:
        quantize_exl2(model, tmp_path / "exl2", bits=4.0, head_bits=6, work_dir=tmp_path / "w")
    assert str(info.value) == reason
    assert not (tmp_path / "exl2").exists()


def test_bad_bitrates_are_refused_before_anything_runs(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"2\.0\.\.8\.0"):
        quantize_exl2(tmp_path, tmp_path / "o", bits=9.0, head_bits=6, work_dir=tmp_path)
    with pytest.raises(ConfigError, match="head bits must be one of"):
        quantize_exl2(tmp_path, tmp_path / "o", bits=4.0, head_bits=7, work_dir=tmp_path)


def test_calibration_has_the_requested_rows_of_enough_tokens(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    texts = ["Ship the small model first.", "Measure recall before tuning.", "  "]
    path = write_calibration(
        texts, tmp_path / "cal" / "calibration.parquet", rows=5, length=40, count_tokens=words
    )

    table = pq.read_table(path)
    assert table.column_names == ["text"] and table.num_rows == 5
    rows = table.column("text").to_pylist()
    assert all(words(row) >= 40 for row in rows)
    assert "Ship the small model first." in rows[0] and "Measure recall" in rows[0]

    rough = write_calibration(texts, tmp_path / "rough.parquet", rows=3, length=100)
    rough_rows = pq.read_table(rough).column("text").to_pylist()
    assert len(rough_rows) == 3 and all(len(row) >= 100 * 4 for row in rough_rows)

    with pytest.raises(InputError, match="no text to calibrate on"):
        write_calibration(["", " \n"], tmp_path / "empty.parquet", rows=2, length=10)


def words(text: str) -> int:
    return len(text.split())


# --- the subprocess, against a stand-in converter ----------------------------------------

# Takes exllamav2 0.3.2's convert_exl2 flags (those we pass), and behaves as it does where
# we depend on it: measurement.json in the job dir (-o) after measuring, unless -m; the
# compiled model in -cf with quantization_config; exit 0 after its own errors.
FAKE_CONVERTER = textwrap.dedent(
    """
    import argparse, json, os, sys
    p = argparse.ArgumentParser()
    for flag in ["-i", "-o", "-cf", "-c", "-m", "-om"]:
        p.add_argument(flag)
    p.add_argument("-nr", action="store_true")
    p.add_argument("-b", type=float, default=4.125)
    p.add_argument("-hb", type=int, default=6)
    for flag in ["-r", "-mr", "-l", "-ml"]:
        p.add_argument(flag, type=int)
    args = p.parse_args()
    with open(os.environ["FAKE_CONVERTER_LOG"], "a") as log:
        log.write(json.dumps(sys.argv[1:]) + "\\n")
    print(" -- Beginning new job")
    if args.m is None:
        print(" -- Measuring quantization impact...")
        for layer in range(3):
            print(f" -- Layer {layer}/3", end="\\r")
        print()
        with open(os.path.join(args.o, "measurement.json"), "w") as f:
            json.dump({"measurement": {"model.layers.0": []}, "last_module_idx": 3}, f)
    else:
        print(f" -- Reusing measurement: {args.m}")
    if os.environ.get("FAKE_CONVERTER_FAIL"):
        print(" ## Error: CUDA out of memory while quantizing model.layers.1")
        sys.exit()
    os.makedirs(args.cf, exist_ok=True)
    config = json.load(open(os.path.join(args.i, "config.json")))
    config["quantization_config"] = {"quant_method": "exl2", "bits": args.b,
                                     "head_bits": args.hb}
    json.dump(config, open(os.path.join(args.cf, "config.json"), "w"))
    open(os.path.join(args.cf, "output.safetensors"), "wb").write(b"0" * 1000)
    print(" -- Finished")
    """
)


@pytest.fixture
def fake_converter(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    script = tmp_path / "fake_convert_exl2.py"
    script.write_text(FAKE_CONVERTER)
    calls = tmp_path / "converter-calls.jsonl"
    monkeypatch.setattr(quantize, "CONVERTER", (str(script),))
    monkeypatch.setattr(quantize, "cuda_missing_reason", lambda: None)
    monkeypatch.setenv("FAKE_CONVERTER_LOG", str(calls))
    return calls


def calls_of(log: Path) -> list[list[str]]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def flag(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


def hf_folder(root: Path) -> Path:
    model = root / "models" / "merged"
    model.mkdir(parents=True)
    (model / "config.json").write_text(json.dumps({"model_type": "llama"}))
    (model / "model.safetensors").write_bytes(b"weights")
    return model


def test_measures_once_then_reuses_the_measurement_for_other_bitrates(
    fake_converter: Path, tmp_path: Path
) -> None:
    model = hf_folder(tmp_path)
    cal = write_calibration(["Some of the owner's text."], tmp_path / "cal.parquet", 4, 64)
    lines: list[str] = []
    first = quantize_exl2(
        model,
        tmp_path / "exl2-4.0",
        bits=4.0,
        head_bits=6,
        work_dir=tmp_path / "work",
        calibration=cal,
        progress=lines.append,
        rows=4,
        measurement_rows=2,
        length=64,
        measurement_length=32,
    )

    assert first.measured and first.measurement == default_measurement_path(model)
    assert first.measurement == tmp_path / "models" / "merged.measurement.json"
    assert json.loads(first.measurement.read_text())["last_module_idx"] == 3
    quant = json.loads((first.out_dir / "config.json").read_text())["quantization_config"]
    assert quant["bits"] == 4.0 and quant["head_bits"] == 6
    assert first.size_bytes == sum(p.stat().st_size for p in first.out_dir.iterdir())
    assert first.seconds > 0
    # every line streamed, the \r progress updates included
    assert " -- Layer 1/3" in lines and lines[-1] == " -- Finished"
    [argv] = calls_of(fake_converter)
    assert argv[:2] == ["-i", str(model)] and "-nr" in argv and "-m" not in argv
    assert flag(argv, "-cf") != str(first.out_dir)  # compiled aside, then renamed
    assert flag(argv, "-o").startswith(str(tmp_path / "work"))
    wanted = {"-b": "4.0", "-hb": "6", "-c": str(cal), "-r": "4", "-mr": "2", "-l": "64"}
    assert {f: flag(argv, f) for f in wanted} == wanted and flag(argv, "-ml") == "32"

    second = quantize_exl2(
        model, tmp_path / "exl2-6.0", bits=6.0, head_bits=8, work_dir=tmp_path / "work"
    )
    assert not second.measured
    argv = calls_of(fake_converter)[1]
    assert flag(argv, "-m") == str(first.measurement)
    assert "-c" not in argv  # exllamav2's built-in calibration data

    again = quantize_exl2(model, first.out_dir, bits=4.0, head_bits=6, work_dir=tmp_path / "w")
    assert again.seconds == 0.0 and not again.measured and len(calls_of(fake_converter)) == 2
    with pytest.raises(ConfigError, match=r"already holds a 4\.0 bpw"):
        quantize_exl2(model, first.out_dir, bits=5.0, head_bits=6, work_dir=tmp_path / "w")
    assert list((tmp_path / "work").iterdir()) == []  # the converter's job dirs are gone
    assert leftovers(tmp_path) == []


def test_weights_newer_than_the_measurement_are_measured_again(
    fake_converter: Path, tmp_path: Path
) -> None:
    model = hf_folder(tmp_path)
    first = quantize_exl2(model, tmp_path / "a", bits=4.0, head_bits=6, work_dir=tmp_path)
    stale = (model / "model.safetensors").stat().st_mtime_ns - 10**9
    os.utime(first.measurement, ns=(stale, stale))

    second = quantize_exl2(model, tmp_path / "b", bits=5.0, head_bits=6, work_dir=tmp_path)
    assert second.measured and "-m" not in calls_of(fake_converter)[1]

    first.measurement.write_text("not json")
    with pytest.raises(ConfigError, match="not an exllamav2 measurement file; delete it"):
        quantize_exl2(model, tmp_path / "c", bits=3.0, head_bits=6, work_dir=tmp_path)


def test_a_failing_converter_raises_its_last_lines_and_leaves_no_folder(
    fake_converter: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = hf_folder(tmp_path)
    monkeypatch.setenv("FAKE_CONVERTER_FAIL", "1")
    out = tmp_path / "exl2"
    with pytest.raises(GenerationError, match="converter failed") as info:
        quantize_exl2(model, out, bits=4.0, head_bits=6, work_dir=tmp_path / "work")
    assert "## Error: CUDA out of memory while quantizing model.layers.1" in str(info.value)
    assert "(exit 0)" in str(info.value)
    assert not out.exists() and leftovers(tmp_path) == []
    assert list((tmp_path / "work").iterdir()) == []
    # the measurement finished before the failure: the retry skips it
    assert default_measurement_path(model).is_file()

    monkeypatch.delenv("FAKE_CONVERTER_FAIL")
    retry = quantize_exl2(model, out, bits=4.0, head_bits=6, work_dir=tmp_path / "work")
    assert not retry.measured and (out / "output.safetensors").is_file()


def test_a_folder_that_is_not_exl2_is_not_replaced(fake_converter: Path, tmp_path: Path) -> None:
    model = hf_folder(tmp_path)
    with pytest.raises(ConfigError, match="is not an EXL2 model folder"):
        quantize_exl2(model, model, bits=4.0, head_bits=6, work_dir=tmp_path)
    with pytest.raises(ConfigError, match=r"model folder .* does not exist"):
        quantize_exl2(tmp_path / "nope", tmp_path / "o", bits=4.0, head_bits=6, work_dir=tmp_path)
    assert calls_of(fake_converter) == []


# --- the real converter ---------------------------------------------------------------------


@pytest.mark.gpu
def test_exllamav2_quantizes_and_reuses_its_measurement(tmp_path: Path) -> None:
    from transformers import AutoTokenizer

    from tests.model.test_exl2 import CALIBRATION, build_tiny_model

    hf = build_tiny_model(tmp_path)
    tokenizer: Any = AutoTokenizer.from_pretrained(str(hf))
    cal = write_calibration(
        [CALIBRATION],
        tmp_path / "cal.parquet",
        rows=4,
        length=256,
        count_tokens=lambda text: len(tokenizer(text)["input_ids"]),
    )
    lines: list[str] = []

    def quantized(bits: float) -> QuantizeResult:
        return quantize_exl2(
            hf,
            tmp_path / f"exl2-{bits:g}",
            bits=bits,
            head_bits=6,
            work_dir=tmp_path / "work",
            calibration=cal,
            progress=lines.append,
            rows=4,
            measurement_rows=4,
            length=256,
            measurement_length=256,
        )

    first = quantized(4.0)
    second = quantized(6.0)

    assert first.measured and not second.measured and first.measurement.is_file()
    assert any("Measuring" in line for line in lines)
    for result, bits in [(first, 4.0), (second, 6.0)]:
        quant = json.loads((result.out_dir / "config.json").read_text())["quantization_config"]
        assert quant["bits"] == bits
        assert (result.out_dir / "tokenizer.json").is_file()
    assert second.size_bytes > first.size_bytes
    print(f"\nquantize {first.seconds:.1f} s, again with the measurement {second.seconds:.1f} s")
    assert leftovers(tmp_path) == []
