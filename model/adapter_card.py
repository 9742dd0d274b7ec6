"""The card saved beside every LoRA adapter the twin trains, checked when it is loaded.

`twin_adapter.json` records the run, the base model it was trained on (with a fingerprint
of that model's shape), the resolved training config and the dataset hash. Loading the
adapter onto another base (a different architecture, width, depth or vocabulary) would
either crash deep in peft or, worse, load and write nonsense; the card turns that into a
one-line error naming both models.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from core.errors import ConfigError

CARD_FILE = "twin_adapter.json"
_SHAPE_KEYS = (
    "model_type",
    "hidden_size",
    "num_hidden_layers",
    "num_attention_heads",
    "vocab_size",
)


def base_fingerprint(model_config: Any) -> dict[str, Any]:
    """The parts of a transformers config an adapter depends on."""
    return {key: getattr(model_config, key, None) for key in _SHAPE_KEYS}


@dataclass(frozen=True)
class AdapterCard:
    run_id: str
    base_model: str
    base_fingerprint: dict[str, Any]
    dataset_hash: str
    training: dict[str, Any] = field(default_factory=dict)
    stage: str = "sft"

    def save(self, folder: Path) -> Path:
        path = folder / CARD_FILE
        partial = path.with_name(f".{CARD_FILE}.{os.getpid()}")
        partial.write_text(json.dumps(asdict(self), indent=2, sort_keys=True))
        partial.replace(path)
        return path

    @classmethod
    def load(cls, folder: Path) -> AdapterCard | None:
        path = folder / CARD_FILE
        if not path.is_file():
            return None
        try:
            raw = json.loads(path.read_text())
            return cls(**{k: raw[k] for k in cls.__dataclass_fields__ if k in raw})
        except (ValueError, TypeError, KeyError) as exc:
            raise ConfigError(f"{path} is not a readable adapter card: {exc}") from exc

    def check(self, folder: Path, model_config: Any, model_name: str) -> None:
        """Raise if this adapter was trained on a base of another shape than `model_config`."""
        found = base_fingerprint(model_config)
        wrong = {
            key: (want, found[key])
            for key, want in self.base_fingerprint.items()
            if want is not None and key in found and found[key] != want
        }
        if wrong:
            diff = ", ".join(f"{key} {want} vs {have}" for key, (want, have) in wrong.items())
            raise ConfigError(
                f"the adapter {folder} was trained on {self.base_model}, not on {model_name} "
                f"({diff}); set model.path to that base model, or train an adapter for this one"
            )
