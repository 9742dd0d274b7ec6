"""A trained run's LoRA adapter as a GGUF LoRA adapter, for llama.cpp and Ollama
(`llm-twin export gguf`).

The PEFT adapter's A and B matrices are written as they are, under llama.cpp's names:
`model.layers.N.self_attn.q_proj` becomes `blk.N.attn_q`, its A `blk.N.attn_q.weight.lora_a`
(rows: rank, columns: in; GGUF lists dimensions fastest first, so ne = [in, rank]) and its B
`blk.N.attn_q.weight.lora_b` ([out, rank], ne = [rank, out]). llama.cpp scales B·A by
alpha / rank, as PEFT does (an rsLoRA adapter's extra sqrt(rank) is folded into B).

llama.cpp's converter stores a llama model's q and k projections with their rows permuted
within each head (rotary pairs next to each other rather than half a head apart), and the
transformers GGUF loader undoes that when it dequantizes; a LoRA trained on the dequantized
weights therefore gets the same row permutation on its q and k B matrices here.

Beside the adapter go a Modelfile for Ollama and the llama-server command line. The base
GGUF is the file the run's base was dequantized from (recorded at the run's start), or one
the owner names; without one the adapter is still written, with a placeholder for the base.
"""

from __future__ import annotations

import json
import os
import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.errors import ConfigError
from core.offline import stay_offline
from training.registry import Registry, Run

ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors")
BASE_PLACEHOLDER = "<BASE_GGUF>"
# Architectures whose q/k rows llama.cpp's HF converter permutes (its LlamaModel family).
PERMUTED_ARCHS = frozenset({"llama"})
# HF model_type -> the GGUF architecture llama.cpp converts it to, where the names differ.
ARCH_ALIASES = {"mistral": "llama"}
_PEFT_KEY = re.compile(r"^base_model\.model\.(?P<module>.+)\.lora_(?P<part>[AB])\.weight$")


@dataclass(frozen=True)
class BaseInfo:
    """What the export needs to know about the base: GGUF architecture, block count, head
    counts (for the q/k permutation) and a name for the metadata."""

    arch: str
    blocks: int
    heads: int
    kv_heads: int
    name: str


@dataclass(frozen=True)
class GgufExport:
    adapter: Path
    modelfile: Path
    base_gguf: Path | None
    tensors: int
    alpha: float
    arch: str

    def server_command(self) -> str:
        """The llama-server command line serving the base with this adapter."""
        base = str(self.base_gguf) if self.base_gguf else BASE_PLACEHOLDER
        return shlex.join(
            ["llama-server", "-m", base, "--lora", str(self.adapter), "--port", "8080"]
        )


def export_run(
    registry: Registry, run: Run, *, base_gguf: Path | None = None, out_dir: Path | None = None
) -> GgufExport:
    """Write `run`'s adapter as `<run id>.gguf` with a Modelfile beside it (in the run's
    gguf/ folder unless `out_dir`) and record the file as the run's `gguf_adapter`.
    `base_gguf` overrides the GGUF recorded as the run's base."""
    adapter_dir = run.trained_adapter("exported")
    if base_gguf is None and run.paths.get("base_gguf"):
        base_gguf = Path(run.paths["base_gguf"])
    folder = out_dir or Path(run.paths.get("run") or adapter_dir.parent) / "gguf"
    target = folder / f"{run.id}.gguf"
    info = write_gguf_lora(
        adapter_dir, run.base_model, target, base_gguf=base_gguf, name=f"llm-twin {run.id}"
    )
    modelfile = folder / "Modelfile"
    text = modelfile_text(base_gguf, target, _tokenizer_source(adapter_dir, run.base_model))
    modelfile.write_text(text, encoding="utf-8")
    registry.add_paths(run.id, gguf_adapter=str(target))
    return GgufExport(target, modelfile, base_gguf, info[0], info[1], info[2])


def write_gguf_lora(
    adapter_dir: Path,
    base_model: str,
    target: Path,
    *,
    base_gguf: Path | None = None,
    name: str = "",
) -> tuple[int, float, str]:
    """Write the PEFT adapter in `adapter_dir` (trained on the HF model `base_model`) as
    a GGUF LoRA at `target`; checked against `base_gguf`'s tensors when given. Written
    aside and renamed. Returns (tensor pairs, alpha, architecture)."""
    import gguf

    config = _adapter_config(adapter_dir)
    base = base_info(base_model, base_gguf)
    pairs = dict(lora_pairs(adapter_dir, config, base))
    if base_gguf is not None:
        check_base_tensors(pairs, base_gguf)
    alpha = float(config["lora_alpha"])
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial-{os.getpid()}")
    writer = gguf.GGUFWriter(partial, base.arch)
    try:
        writer.add_type(gguf.GGUFType.ADAPTER)
        writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
        writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, alpha)
        writer.add_name(name or f"{base.name} LoRA")
        writer.add_base_model_count(1)
        writer.add_base_model_name(0, base.name)
        writer.add_string("llm_twin.base_model", base_model)
        if base_gguf is not None:
            writer.add_string("llm_twin.base_gguf", base_gguf.name)
        for tensor, (a, b) in pairs.items():
            writer.add_tensor(f"{tensor}.weight.lora_a", a)
            writer.add_tensor(f"{tensor}.weight.lora_b", b)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
        partial.replace(target)
    finally:
        writer.close()
        partial.unlink(missing_ok=True)
    return len(pairs), alpha, base.arch


def _adapter_config(adapter_dir: Path) -> dict[str, Any]:
    missing = [name for name in ADAPTER_FILES if not (adapter_dir / name).is_file()]
    if missing:
        raise ConfigError(
            f"{adapter_dir} is not a complete PEFT LoRA adapter (missing {', '.join(missing)})"
        )
    config: dict[str, Any] = json.loads((adapter_dir / "adapter_config.json").read_text())
    if config.get("peft_type", "LORA") != "LORA" or config.get("use_dora"):
        raise ConfigError(f"{adapter_dir} is not a plain LoRA adapter; GGUF holds LoRA only")
    if config.get("alpha_pattern"):
        raise ConfigError(
            f"{adapter_dir} scales modules differently (alpha_pattern); a GGUF LoRA has one alpha"
        )
    return config


def base_info(base_model: str, base_gguf: Path | None) -> BaseInfo:
    """The base's architecture and shape, from its HF config (and its GGUF, which names
    the architecture llama.cpp will check the adapter against)."""
    stay_offline()
    from transformers import AutoConfig

    try:
        config = AutoConfig.from_pretrained(base_model)
    except Exception as exc:
        raise ConfigError(
            f"cannot read the base model {base_model}'s config: {type(exc).__name__}: {exc}"
        ) from exc
    heads = int(config.num_attention_heads)
    kv_heads = int(getattr(config, "num_key_value_heads", None) or heads)
    name = Path(base_model).name
    if base_gguf is not None:
        fields = _gguf_fields(base_gguf, "general.architecture", "general.name")
        arch, name = fields["general.architecture"], fields["general.name"] or name
    else:
        arch = ARCH_ALIASES.get(config.model_type, config.model_type)
    return BaseInfo(arch, int(config.num_hidden_layers), heads, kv_heads, name)


def lora_pairs(
    adapter_dir: Path, config: dict[str, Any], base: BaseInfo
) -> Iterator[tuple[str, tuple[Any, Any]]]:
    """(GGUF tensor name, (A [rank, in], B [out, rank])) for every adapted module, B
    scaled and permuted as llama.cpp needs it."""
    import gguf
    import numpy as np
    from safetensors.torch import load_file

    try:
        names = gguf.get_tensor_name_map(gguf.MODEL_ARCH[base.arch.upper()], base.blocks)
    except KeyError:
        raise ConfigError(f"llama.cpp has no architecture {base.arch!r}") from None
    parts: dict[str, dict[str, Any]] = {}
    for key, tensor in load_file(str(adapter_dir / "adapter_model.safetensors")).items():
        match = _PEFT_KEY.match(key)
        tensor_name = names.get_name(match["module"]) if match else None
        if match is None or tensor_name is None:
            raise ConfigError(
                f"{adapter_dir}: {key} has no llama.cpp LoRA equivalent (only LoRA on the "
                f"{base.arch} linear layers exports to GGUF)"
            )
        parts.setdefault(tensor_name, {})[match["part"]] = tensor.float().numpy()
    for tensor_name, ab in sorted(parts.items()):
        a, b = ab["A"], ab["B"]
        rank = a.shape[0]
        if config.get("use_rslora"):  # PEFT scales by alpha / sqrt(rank), llama.cpp alpha / rank
            b = b * np.sqrt(rank)
        if base.arch in PERMUTED_ARCHS and tensor_name.endswith((".attn_q", ".attn_k")):
            heads = base.heads if tensor_name.endswith(".attn_q") else base.kv_heads
            b = permute_rows(b, heads)
        yield tensor_name, (np.ascontiguousarray(a), np.ascontiguousarray(b, dtype=np.float32))


def permute_rows(weight: Any, heads: int) -> Any:
    """Rows of a q/k projection in llama.cpp's order: in each head, HF's rotate-half layout
    pairs row i with row i + d/2; llama.cpp wants those two rows next to each other."""
    half = weight.shape[0] // heads // 2
    return weight.reshape(heads, 2, half, *weight.shape[1:]).swapaxes(1, 2).reshape(weight.shape)


def check_base_tensors(pairs: dict[str, tuple[Any, Any]], base_gguf: Path) -> None:
    """Refuse a base GGUF whose weights are not the ones the adapter was trained on."""
    from gguf import GGUFReader

    shapes = {t.name: [int(n) for n in t.shape] for t in GGUFReader(base_gguf).tensors}
    for tensor, (a, b) in pairs.items():
        want = [a.shape[1], b.shape[0]]  # ne order: in, out
        have = shapes.get(f"{tensor}.weight")
        if have != want:
            raise ConfigError(
                f"the base GGUF {base_gguf} does not fit this adapter ({tensor}.weight is "
                f"{have or 'missing'}, the adapter needs {want}): give the GGUF of the model "
                "the run was trained on"
            )


def _gguf_fields(path: Path, *keys: str) -> dict[str, str]:
    from gguf import GGUFReader

    if not path.is_file():
        raise ConfigError(f"the base GGUF {path} does not exist; name it with --base-gguf")
    fields = GGUFReader(path).fields
    found = {key: fields[key].contents() if key in fields else "" for key in keys}
    return {key: str(value) for key, value in found.items()}


def _tokenizer_source(adapter_dir: Path, base_model: str) -> str:
    """Where the chat template comes from: the adapter folder when the trainer saved a
    tokenizer there (as merge_adapter does), else the base."""
    has_tokenizer = (adapter_dir / "tokenizer_config.json").is_file()
    return str(adapter_dir) if has_tokenizer else base_model


# --- Ollama -------------------------------------------------------------------------


def modelfile_text(base_gguf: Path | None, adapter: Path, tokenizer_source: str) -> str:
    """An Ollama Modelfile: the base GGUF, the adapter, the chat template as a Go template
    (ChatML and Llama 3 are converted; otherwise Ollama reads the base GGUF's own), its
    default system prompt and its end-of-turn tokens as stops."""
    stay_offline()
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_source)
    jinja = str(tokenizer.chat_template or "")
    lines = [f"# {adapter.stem}: written by `llm-twin export gguf`"]
    if base_gguf is None:
        lines.append(
            f"# Replace {BASE_PLACEHOLDER} with a GGUF of the base model "
            "(llama.cpp's convert_hf_to_gguf.py makes one from the base folder)."
        )
    lines += [f"FROM {base_gguf or BASE_PLACEHOLDER}", f"ADAPTER {adapter}"]
    template, stops = ollama_template(jinja)
    if template:
        lines.append(f'TEMPLATE """{template}"""')
    else:
        lines.append("# TEMPLATE: not converted; Ollama uses the chat template in the base GGUF")
    if system := default_system_prompt(jinja):
        lines.append(f'SYSTEM """{system}"""')
    eos = str(tokenizer.eos_token or "")
    for stop in dict.fromkeys([*stops, eos]):
        if stop:
            lines.append(f"PARAMETER stop {json.dumps(stop)}")
    return "\n".join(lines) + "\n"


CHATML = (
    "{{- range .Messages }}<|im_start|>{{ .Role }}\n{{ .Content }}<|im_end|>\n"
    "{{ end }}<|im_start|>assistant\n"
)
LLAMA3 = (
    "{{- range .Messages }}<|start_header_id|>{{ .Role }}<|end_header_id|>\n\n"
    "{{ .Content }}<|eot_id|>\n{{- end }}<|start_header_id|>assistant<|end_header_id|>\n\n"
)


def ollama_template(jinja: str) -> tuple[str, list[str]]:
    """The Go template (or "") for a Jinja chat template, and its end-of-turn markers."""
    if "<|im_start|>" in jinja:
        return CHATML, ["<|im_end|>"]
    if "<|start_header_id|>" in jinja:
        return LLAMA3, ["<|eot_id|>"]
    return "", []


def default_system_prompt(jinja: str) -> str:
    """The system prompt a ChatML template writes when the conversation has none."""
    found = re.search(r"<\|im_start\|>system(?:\n|\\n)([^'\"{}<]+)<\|im_end\|>", jinja)
    return found.group(1).strip() if found else ""


def servable_on_llamacpp(registry: Registry, run: Run) -> Run:
    """`run`, exported as a GGUF adapter first if it was trained on a GGUF base and has
    none yet (activating a run is enough for the llamacpp backend to serve it)."""
    if run.paths.get("gguf_adapter") or not run.paths.get("base_gguf"):
        return run
    export_run(registry, run)
    return registry.require(run.id)
