"""The model hub switch: nothing is downloaded at run time unless the owner asks.

Every loader of Hugging Face weights calls `stay_offline()` before importing
huggingface_hub (which reads the variable once, at import). An owner who wants the hub
sets HF_HUB_OFFLINE=0; `setdefault` leaves that choice alone.
"""

from __future__ import annotations

import os


def stay_offline() -> None:
    """Keep transformers, sentence-transformers and huggingface_hub off the network."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")


def hub_online_environment() -> dict[str, str]:
    """This process's environment with the hub allowed, for the one child process that
    downloads what the owner asked for (`llm-twin models pull`). huggingface_hub reads the
    switch once, at import, into a module constant: flipping it here would let every later
    load in this process go online, so the download runs in a child that starts online."""
    return {**os.environ, "HF_HUB_OFFLINE": "0"}
