"""What the GPU benchmarks share: the check that this machine can run them."""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence


def missing_requirement(measures: str, modules: Sequence[tuple[str, str]]) -> str | None:
    """Why a GPU benchmark that `measures` something cannot run here, or None: torch with
    CUDA, each of `modules` (name, install hint), and exllamav2's CUDA extension, which
    builds (or loads) here so that a broken build fails before any measurement."""
    try:
        import torch
    except ImportError:
        return "torch is not installed"
    if not torch.cuda.is_available():
        return (
            "no CUDA GPU is visible (torch.cuda.is_available() is False); this benchmark "
            f"measures {measures} and needs torch with CUDA on a machine with a GPU"
        )
    for module, hint in modules:
        if importlib.util.find_spec(module) is None:
            return f"{module} is not installed: {hint}"
    from core.errors import ConfigError
    from model.exl2 import import_exllamav2
    from training.quantize import cuda_missing_reason

    if (reason := cuda_missing_reason()) is not None:
        return reason
    try:
        import_exllamav2()
    except ConfigError as exc:
        return str(exc)
    return None
