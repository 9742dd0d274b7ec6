"""A BERT sentence encoder in NumPy, for queries.

A search embeds one short query. Importing torch and sentence-transformers for it takes
seconds on a small machine, the forward pass itself milliseconds: so a plain BERT with
mean pooling (all-MiniLM-L6-v2, the bundled default, and its kin) is also run here, from
the same folder's `model.safetensors` and `tokenizer.json`, with NumPy alone. Bulk
embedding (ingest, reindex) stays on sentence-transformers and its device. The two give
the same vectors to within float rounding (tests/retrieval/test_bert.py holds them to
1e-5); a folder this module cannot read exactly is left to sentence-transformers.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from retrieval.types import Vector

if TYPE_CHECKING:
    from tokenizers import Tokenizer

__all__ = ["BertShape", "CountingTokenizer", "NumpyBert", "bert_shape"]

_TRANSFORMER = "sentence_transformers.models.Transformer"
_POOLING = "sentence_transformers.models.Pooling"
_NORMALIZE = "sentence_transformers.models.Normalize"
_MEAN_ONLY = {
    "pooling_mode_cls_token": False,
    "pooling_mode_mean_tokens": True,
    "pooling_mode_max_tokens": False,
    "pooling_mode_mean_sqrt_len_tokens": False,
}
_Weights = dict[str, Any]


@dataclass(frozen=True, slots=True)
class BertShape:
    """What the folder's configs say, read without loading the weights."""

    folder: Path
    dimension: int
    layers: int
    heads: int
    max_seq_length: int
    layer_norm_eps: float


def _json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def bert_shape(folder: Path) -> BertShape | None:
    """The shape of a sentence-transformers folder that holds exactly a BERT encoder with
    mean pooling (optionally normalised), in safetensors with a BERT fast tokenizer; None
    for anything else (other architectures, poolings, prompts, tokenizers or files)."""
    try:
        modules = _json(folder / "modules.json")
        types = [m["type"] for m in modules]
        if types[:2] != [_TRANSFORMER, _POOLING] or types[2:] not in ([], [_NORMALIZE]):
            return None
        if modules[0].get("path", "") != "":
            return None
        pooling = _json(folder / modules[1]["path"] / "config.json")
        config = _json(folder / "config.json")
        sbert = _json(folder / "sentence_bert_config.json")
        if any(pooling.get(key, False) != want for key, want in _MEAN_ONLY.items()):
            return None
        if pooling.get("include_prompt") is False or sbert.get("do_lower_case"):
            return None
        if not _plain_bert(config, folder) or not _bert_tokenizer(folder):
            return None
        hidden, heads = int(config["hidden_size"]), int(config["num_attention_heads"])
        max_len = min(int(sbert["max_seq_length"]), int(config["max_position_embeddings"]))
        if hidden % heads or int(pooling["word_embedding_dimension"]) != hidden:
            return None
        return BertShape(
            folder=folder,
            dimension=hidden,
            layers=int(config["num_hidden_layers"]),
            heads=heads,
            max_seq_length=max_len,
            layer_norm_eps=float(config.get("layer_norm_eps", 1e-12)),
        )
    except (OSError, ValueError, KeyError, TypeError, IndexError, AttributeError):
        return None


def _plain_bert(config: Any, folder: Path) -> bool:
    return (
        config.get("model_type") == "bert"
        and config.get("hidden_act") == "gelu"
        and config.get("position_embedding_type", "absolute") == "absolute"
        and (folder / "model.safetensors").is_file()
    )


def _bert_tokenizer(folder: Path) -> bool:
    """Whether tokenizer.json alone tokenizes as transformers' BertTokenizer does with the
    folder's tokenizer_config.json (which rebuilds the normaliser from that config)."""
    spec = _json(folder / "tokenizer.json")
    settings = _json(folder / "tokenizer_config.json")
    normalizer = spec["normalizer"]
    return (
        settings.get("tokenizer_class") in ("BertTokenizer", "BertTokenizerFast")
        and spec["model"]["type"] == "WordPiece"
        and spec["pre_tokenizer"]["type"] == "BertPreTokenizer"
        and normalizer["type"] == "BertNormalizer"
        and normalizer.get("clean_text", True) is True
        and normalizer.get("lowercase") == settings.get("do_lower_case", True)
        and normalizer.get("handle_chinese_chars") == settings.get("tokenize_chinese_chars", True)
        and normalizer.get("strip_accents") == settings.get("strip_accents")
    )


class CountingTokenizer:
    """The folder's tokenizer for counting and chunking (no padding, no truncation),
    called as a Hugging Face tokenizer is (`ingest/chunking.py`). Its own instance: the
    encoder's truncation never touches it."""

    def __init__(self, shape: BertShape) -> None:
        from tokenizers import Tokenizer

        self._tokenizer = Tokenizer.from_file(str(shape.folder / "tokenizer.json"))
        self._tokenizer.no_padding()
        self._tokenizer.no_truncation()

    def __call__(self, text: list[str], **kwargs: Any) -> dict[str, Any]:
        encodings = self._tokenizer.encode_batch(
            list(text), add_special_tokens=bool(kwargs.get("add_special_tokens", True))
        )
        return {
            "input_ids": [e.ids for e in encodings],
            "attention_mask": [e.attention_mask for e in encodings],
            "offset_mapping": [e.offsets for e in encodings],
        }


class NumpyBert:
    """Loads the weights and tokenizer on first use (~0.1 s) and keeps them."""

    def __init__(self, shape: BertShape) -> None:
        self.shape = shape
        self._lock = threading.Lock()
        self._loaded: tuple[Tokenizer, _Weights] | None = None

    def _load(self) -> tuple[Tokenizer, _Weights]:
        with self._lock:
            if self._loaded is None:
                from safetensors.numpy import load_file
                from tokenizers import Tokenizer

                tokenizer = Tokenizer.from_file(str(self.shape.folder / "tokenizer.json"))
                # The file's own padding and truncation are for training; match what
                # sentence-transformers does: pad to the longest, cut at max_seq_length.
                tokenizer.no_padding()
                tokenizer.enable_truncation(self.shape.max_seq_length)
                weights = load_file(str(self.shape.folder / "model.safetensors"))
                weights = {
                    k.removeprefix("bert."): v.astype(np.float32) for k, v in weights.items()
                }
                self._loaded = (tokenizer, weights)
            return self._loaded

    def embed(self, texts: Sequence[str]) -> Vector:
        """Unit-normalised float32 vectors, shape (len(texts), dimension)."""
        tokenizer, weights = self._load()
        if not texts:
            return np.zeros((0, self.shape.dimension), dtype=np.float32)
        encodings = tokenizer.encode_batch([str(t).strip() for t in texts])
        length = max(len(e.ids) for e in encodings)
        ids = np.zeros((len(texts), length), dtype=np.int64)
        mask = np.zeros((len(texts), length), dtype=np.float32)
        for row, encoding in enumerate(encodings):
            ids[row, : len(encoding.ids)] = encoding.ids
            mask[row, : len(encoding.ids)] = 1.0
        # One BLAS thread: a query's matrices are small, and threads spinning for work on
        # a busy two-core machine made a 40 ms query take a second.
        from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

        with threadpool_limits(limits=1, user_api="blas"):
            hidden = self._encode(weights, ids, mask)
        counts = np.maximum(mask.sum(axis=1, keepdims=True), 1e-9)
        pooled = (hidden * mask[..., None]).sum(axis=1) / counts
        norms = np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
        vectors: Vector = (pooled / norms).astype(np.float32)
        return vectors

    def _encode(self, w: _Weights, ids: Any, mask: Any) -> Any:
        eps = self.shape.layer_norm_eps
        x = (
            w["embeddings.word_embeddings.weight"][ids]
            + w["embeddings.position_embeddings.weight"][: ids.shape[1]][None]
            + w["embeddings.token_type_embeddings.weight"][0]
        )
        x = _layer_norm(x, w, "embeddings.LayerNorm", eps)
        # Padding is masked with float32's minimum, as transformers does.
        bias = (1.0 - mask)[:, None, None, :] * np.finfo(np.float32).min
        for layer in range(self.shape.layers):
            x = self._layer(w, f"encoder.layer.{layer}.", x, bias, eps)
        return x

    def _layer(self, w: _Weights, at: str, x: Any, bias: Any, eps: float) -> Any:
        batch, length, hidden = x.shape
        heads = self.shape.heads
        size = hidden // heads

        def linear(value: Any, name: str) -> Any:
            return value @ w[f"{at}{name}.weight"].T + w[f"{at}{name}.bias"]

        def split(value: Any) -> Any:
            return np.ascontiguousarray(
                value.reshape(batch, length, heads, size).transpose(0, 2, 1, 3)
            )

        q = split(linear(x, "attention.self.query"))
        k = split(linear(x, "attention.self.key"))
        v = split(linear(x, "attention.self.value"))
        scores = np.matmul(q, np.ascontiguousarray(k.transpose(0, 1, 3, 2)))
        scores = scores / np.float32(math.sqrt(size)) + bias
        scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
        attention = scores / scores.sum(axis=-1, keepdims=True)
        context = np.matmul(attention, v).transpose(0, 2, 1, 3).reshape(batch, length, hidden)
        x = _layer_norm(
            linear(context, "attention.output.dense") + x, w, f"{at}attention.output.LayerNorm", eps
        )
        inner = _gelu(linear(x, "intermediate.dense"))
        return _layer_norm(linear(inner, "output.dense") + x, w, f"{at}output.LayerNorm", eps)


def _layer_norm(x: Any, w: _Weights, name: str, eps: float) -> Any:
    mean = x.mean(axis=-1, keepdims=True)
    variance = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(variance + np.float32(eps)) * w[f"{name}.weight"] + w[
        f"{name}.bias"
    ]


def _gelu(x: Any) -> Any:
    """BERT's exact GELU, x·Φ(x), with erf from Abramowitz and Stegun 7.1.26 (absolute
    error under 1.5e-7, below float32's resolution at these magnitudes) in float64."""
    z = x.astype(np.float64) / math.sqrt(2.0)
    a = np.abs(z)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = (
        (((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592
    ) * t
    erf = np.sign(z) * (1.0 - poly * np.exp(-a * a))
    return (x * (0.5 * (1.0 + erf))).astype(np.float32)
