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
