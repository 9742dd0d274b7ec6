"""What every config section shares: the check that names the key it refuses.

A config section is a frozen dataclass in the package it configures (`ingest/settings.py`,
`model/settings.py`, …): one field per key, its default, its type and a comment. Its
`validate()` raises `ConfigError` through `require`; `bot/config.py` composes the sections,
applies precedence and calls `validate()` once.
"""

from __future__ import annotations

from core.errors import ConfigError


def require(ok: bool, key: str, what: str) -> None:
    """Refuse `key` (written section.key) with `what` it must be, unless `ok`."""
    if not ok:
        raise ConfigError(f"config key {key} {what}")
