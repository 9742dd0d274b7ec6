"""GGUF files as plain HF folders.

transformers dequantizes a GGUF on every load, which takes ~20 s for SmolLM2-135M on two
cores; the same weights saved once as safetensors load in well under a second. The
folder is also what exllamav2's converter and the LoRA trainer take as input.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.errors import ConfigError
from core.offline import stay_offline

if TYPE_CHECKING:
    from gguf import GGUFReader

log = logging.getLogger(__name__)


def dequantized_folder(location: str, gguf_file: str, cache_root: Path) -> Path:
    """The HF folder holding `location/gguf_file` dequantized, made on first use.

    Keyed by the file's name, size and mtime, so a replaced GGUF gets a new folder."""
    gguf = Path(location) / gguf_file
    stat = gguf.stat()
    key = hashlib.sha256(f"{gguf.resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    target = cache_root / f"{gguf.stem}-{key.hexdigest()[:12]}"
    if (target / "config.json").is_file():
        return target
    log.info("dequantizing %s once into %s", gguf.name, target)
    dequantize_gguf(location, gguf_file, target)
    return target


def quiet_progress_bars() -> None:
    """transformers' own progress bars ("Loading weights") only with -v (INFO logging):
    the happy path prints nothing the owner did not ask for."""
    from transformers.utils import logging as transformers_logging

    hf_logging: Any = transformers_logging  # its switches are untyped
    if log.isEnabledFor(logging.INFO):
        hf_logging.enable_progress_bar()
    else:
        hf_logging.disable_progress_bar()


def dequantize_gguf(location: str, gguf_file: str, target: Path, *, dtype: Any = None) -> Path:
    """Write the GGUF's weights (float32 unless `dtype`), config, tokenizer and chat
    template as an HF folder. Written aside and renamed, so a crash leaves no half folder."""
    stay_offline()
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    quiet_progress_bars()
    try:
        tokenizer = AutoTokenizer.from_pretrained(location, gguf_file=gguf_file)
        model = AutoModelForCausalLM.from_pretrained(
            location, gguf_file=gguf_file, dtype=dtype or torch.float32
        )
    except Exception as exc:
        raise ConfigError(
            f"cannot read the GGUF {Path(location) / gguf_file}: {type(exc).__name__}: {exc}"
        ) from exc
    # The weights are plain tensors now; the GGUF "quantizer" only blocks saving them.
    model.hf_quantizer = None  # type: ignore[assignment]
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    try:
        model.save_pretrained(partial)
        tokenizer.save_pretrained(partial)
        copy_rope_theta_to_top_level(partial / "config.json")
        shutil.rmtree(target, ignore_errors=True)
        partial.rename(target)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return target


def copy_rope_theta_to_top_level(config_path: Path) -> None:
    """transformers >= 5 writes rope_theta only under rope_parameters; exllamav2 (the
    EXL2 converter) reads the top-level key and would silently fall back to 10,000
    (SmolLM2 uses 100,000). transformers ignores the top-level copy."""
    config = json.loads(config_path.read_text(encoding="utf-8"))
    rope = config.get("rope_parameters") or {}
    if "rope_theta" not in config and "rope_theta" in rope:
        config["rope_theta"] = rope["rope_theta"]
        config_path.write_text(json.dumps(config, indent=2), encoding="utf-8")


def check_gguf(path: Path, key: str, *, kind: str = "model") -> GGUFReader:
    """Refuse, naming the config `key`, a path that is missing or not a GGUF file, and an
    adapter that is a whole model (or a model that is an adapter). Returns the file's
    reader for the caller's other questions: reading a GGUF's header takes ~2 s for the
    bundled model (its vocabulary is 49,152 fields), so it is read once."""
    if not path.is_file():
        raise ConfigError(f"{key} {path} does not exist; point it at a .gguf file")
    with path.open("rb") as handle:
        if handle.read(4) != b"GGUF":
            raise ConfigError(
                f"{key} {path} is not a GGUF file (no GGUF header); convert it, or export a "
                "trained run with `llm-twin export gguf RUN`"
            )
    from gguf import GGUFReader

    reader = GGUFReader(path)
    field = reader.fields.get("general.type")
    declared = bytes(field.parts[field.data[0]]).decode() if field is not None else "model"
    if (declared == "adapter") != (kind == "adapter"):
        raise ConfigError(
            f"{key} {path} is a GGUF {declared}, not a{'n' if kind == 'adapter' else ''} {kind}"
        )
    return reader


def has_quantized_weights(gguf: GGUFReader) -> bool:
    """Whether the GGUF holds quantized matrices (Q4_1, Q8_0, …) rather than float ones."""
    from gguf import GGMLQuantizationType

    floats = {
        GGMLQuantizationType.F32,
        GGMLQuantizationType.F16,
        GGMLQuantizationType.BF16,
        GGMLQuantizationType.F64,
    }
    return any(tensor.tensor_type not in floats for tensor in gguf.tensors)


def check_adapter_fits(
    adapter: Path, model: Path, adapter_gguf: GGUFReader, model_gguf: GGUFReader
) -> None:
    """Refuse a GGUF LoRA adapter whose tensors do not fit `model`'s weights (made for
    another base): llama.cpp itself only logs the mismatch and fails on the first token.
    The readers are the files' own, as check_gguf returned them."""
    have = {t.name: [int(n) for n in t.shape] for t in model_gguf.tensors}
    for tensor in adapter_gguf.tensors:
        if not tensor.name.endswith(".lora_a"):
            continue
        weight = tensor.name.removesuffix(".lora_a")
        needs_in = int(tensor.shape[0])  # ne order: in, rank
        shape = have.get(weight)
        if shape is None or shape[0] != needs_in:
            raise ConfigError(
                f"model.adapter {adapter} does not fit {model} ({weight} is "
                f"{shape or 'missing'} there, the adapter needs {needs_in} inputs): an adapter "
                "must be exported from a run trained on this same base (llm-twin export gguf RUN)"
            )
