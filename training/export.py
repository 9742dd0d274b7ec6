"""Export: a LoRA adapter merged into its base model, saved as a plain HF folder.

The merged folder is what every later step takes: the `hf` backend serves it directly,
and exllamav2's converter (`training.quantize`) turns it into EXL2. It is written aside
and renamed into place, so a crash never leaves a half-written model where a complete one
is expected.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import Any

from core.errors import ConfigError
from core.offline import stay_offline

# The private helper is the one rule for exllamav2's rope_theta; one copy of it, not two.
from model.gguf import copy_rope_theta_to_top_level

log = logging.getLogger(__name__)

_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "tokenizer.model")


def merge_adapter(
    base_dir: Path,
    adapter_dir: Path,
    out_dir: Path,
    *,
    dtype: Any = None,
    overwrite: bool = False,
) -> Path:
    """Merge the PEFT adapter in `adapter_dir` into the HF model in `base_dir` and save
    weights (safetensors), config, generation config and tokenizer (with its chat
    template) into `out_dir`.

    `dtype` is the torch dtype the model is loaded, merged and saved in (default: the
    base's own). The tokenizer comes from the adapter folder when the trainer saved one
    there (it may carry a chat template set for training), else from the base. An
    existing complete `out_dir` is returned as is unless `overwrite`."""
    base_dir, adapter_dir, out_dir = Path(base_dir), Path(adapter_dir), Path(out_dir)
    if (out_dir / "config.json").is_file() and not overwrite:
        log.info("%s already holds a merged model; not merging again", out_dir)
        return out_dir
    _check_inputs(base_dir, adapter_dir)
    stay_offline()
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer_dir = adapter_dir if _has_tokenizer(adapter_dir) else base_dir
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_dir))
        base: Any = AutoModelForCausalLM.from_pretrained(str(base_dir), dtype=dtype or "auto")
    except Exception as exc:
        raise ConfigError(
            f"cannot load the base model {base_dir}: {type(exc).__name__}: {_first_line(exc)}; "
            "point training.base_model at an HF model folder (config.json and safetensors)"
        ) from exc
    merged = _merged(base, adapter_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    partial = out_dir.with_name(f".{out_dir.name}.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    try:
        merged.save_pretrained(str(partial))
        tokenizer.save_pretrained(str(partial))
        copy_rope_theta_to_top_level(partial / "config.json")
        replace_folder(partial, out_dir)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    log.info("merged %s into %s: %s", adapter_dir, base_dir, out_dir)
    return out_dir


def replace_folder(new: Path, target: Path) -> None:
    """Move the complete folder `new` to `target`. An older `target` is first moved
    aside, then removed: at every moment `target` is either the old folder or the new
    one, never missing or half-written."""
    old = target.with_name(f".{target.name}.old-{os.getpid()}")
    if target.exists():
        shutil.rmtree(old, ignore_errors=True)
        target.rename(old)
    try:
        new.rename(target)
    except BaseException:
        if old.exists() and not target.exists():
            old.rename(target)  # put the previous one back
        raise
    shutil.rmtree(old, ignore_errors=True)


def _check_inputs(base_dir: Path, adapter_dir: Path) -> None:
    if not (base_dir / "config.json").is_file():
        what = "does not exist" if not base_dir.exists() else "has no config.json"
        raise ConfigError(
            f"base model folder {base_dir} {what}; merge into the HF model folder the "
            "adapter was trained on (training.base_model)"
        )
    if not (adapter_dir / "adapter_config.json").is_file():
        what = "does not exist" if not adapter_dir.exists() else "has no adapter_config.json"
        raise ConfigError(
            f"adapter folder {adapter_dir} {what}; it must be a PEFT LoRA adapter saved by "
            "training (adapter_config.json and adapter_model.safetensors): train one first "
            "or pass the run's adapter folder"
        )


def _merged(base: Any, adapter_dir: Path) -> Any:
    from peft import PeftModel

    try:
        with_adapter = PeftModel.from_pretrained(base, str(adapter_dir))
    except Exception as exc:  # a shape mismatch: the adapter belongs to another base
        raise ConfigError(
            f"cannot apply the adapter {adapter_dir} to this base model: "
            f"{type(exc).__name__}: {_first_line(exc)}; merge it into the base it was "
            "trained on"
        ) from exc
    return with_adapter.merge_and_unload()


def _has_tokenizer(folder: Path) -> bool:
    return any((folder / name).is_file() for name in _TOKENIZER_FILES)


def _first_line(exc: BaseException) -> str:
    text = str(exc)
    return text.splitlines()[0] if text else ""
