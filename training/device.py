"""Where training runs: the device, torch's threads, and the memory it peaked at."""

from __future__ import annotations

import os

from core.errors import ConfigError
from training.settings import TrainingSettings


def resolve_device(settings: TrainingSettings) -> str:
    import torch

    if settings.device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if settings.device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"training on {settings.device} but no CUDA GPU is visible")
    return settings.device


def set_threads(settings: TrainingSettings) -> None:
    """Leave a core to a bot on the same machine unless told otherwise."""
    import torch

    torch.set_num_threads(settings.threads or max(1, (os.cpu_count() or 2) - 1))


def peak_memory(device: str) -> int:
    """Peak bytes: VRAM on CUDA, this process's max RSS on CPU."""
    if device.startswith("cuda"):
        import torch

        return int(torch.cuda.max_memory_allocated())
    import resource

    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024
