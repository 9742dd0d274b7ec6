"""The model named in words wherever it is shown, and the demo model's one warning."""

from __future__ import annotations

from pathlib import Path

from model import naming
from model.hf import default_model_source
from model.settings import ModelSettings


def bundled() -> str:
    source = default_model_source()
    return str(Path(source.location) / (source.gguf_file or ""))


def test_models_are_named_in_words_with_backend_and_version(tmp_path: Path) -> None:
    assert (
        naming.describe_model(bundled(), "llamacpp", "base")
        == "SmolLM2-135M-Instruct (bundled demo model, GGUF) · llamacpp · base"
    )
    own = tmp_path / "Llama-3.2-3B-Instruct-Q4_K_M.gguf"
    own.write_bytes(b"GGUF")
    assert naming.describe_model(str(own), "llamacpp", "run-1") == (
        "Llama-3.2-3B-Instruct (GGUF) · llamacpp · run-1"
    )
    hub = "/root/.cache/huggingface/hub/models--Qwen--Qwen2.5-1.5B-Instruct/snapshots/abc"
    assert naming.name_model(hub, "hf").words == "Qwen2.5-1.5B-Instruct (HF folder)"
    assert naming.model_json("sam-twin", "openai", "v2")["name"] == (
        "sam-twin (served over the OpenAI API), version v2"
    )
    assert naming.model_json(str(own), "hf", "run-7")["name"] == (
        "Llama-3.2-3B-Instruct (GGUF), fine-tuned run run-7"
    )


def test_the_configured_base_model_in_words(tmp_path: Path) -> None:
    assert naming.configured_model(ModelSettings()) == (
        "SmolLM2-135M-Instruct (bundled demo model, GGUF)"
    )
    folder = tmp_path / "Mistral-7B-Instruct-v0.3"
    folder.mkdir()
    assert naming.configured_model(ModelSettings(backend="hf", path=str(folder))) == (
        "Mistral-7B-Instruct-v0.3 (HF folder)"
    )
    served = ModelSettings(backend="openai", url="http://gpu:5000/v1", name="twin")
    assert naming.configured_model(served) == "twin (served over the OpenAI API)"


def test_the_demo_model_warns_once_per_process() -> None:
    naming._demo_noted.clear()
    first = naming.demo_note_once(bundled(), "llamacpp")
    assert first is not None and "demo model" in first and "models pull" in first
    assert naming.demo_note_once(bundled(), "llamacpp") is None  # once
    assert naming.demo_note_once("/models/real.gguf", "llamacpp") is None  # not the demo
