"""The settings the web page edits, saved in `$TWIN_HOME/settings.toml`.

That file is a layer of the config (bot/config.py reads it: above config.toml, below
TWIN_* env and flags). A save is checked by resolving the whole config again with the
loader's own rules and messages; a refusal names the key and nothing is written; a good
one replaces the file atomically (a temporary file, fsync, rename). Only the keys below
can be saved from the page; secrets never can (they come from the environment only).
"""

from __future__ import annotations

import json
import math
import os
import re
import secrets
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.config import SETTINGS_FILE, Config, default_keys, load_config, read_settings_file
from core.errors import ConfigError

# What the Settings page offers, where the config has it (a key another package has not
# added yet is left out).
PAGE_KEYS = (
    "owner.name",
    "owner.bio",
    "owner.names",
    "owner.voice_notes",
    "model.backend",
    "model.path",
    "model.gguf_file",
    "model.url",
    "model.name",
    "drafting.format",
    "drafting.max_new_tokens",
    "drafting.temperature",
    "drafting.top_p",
    "drafting.k",
    "drafting.voice_examples",
    "drafting.linkedin_max_chars",
    "drafting.ingest_links",
)
_LOCKED = {"environment", "command line"}  # layers above the settings file
_KEY_IN_MESSAGE = re.compile(r"config key (\w+\.\w+)")


class SettingsRefused(Exception):
    """A save that fails: the one-line reason and the key it names."""

    def __init__(self, message: str, key: str | None) -> None:
        super().__init__(message)
        self.key = key


@dataclass(frozen=True)
class Resolved:
    config: Config  # the whole config with the saved settings
    layer: dict[str, dict[str, Any]]  # what the settings file will hold
    text: str  # the file's text


def page_keys() -> tuple[str, ...]:
    known = default_keys()
    return tuple(k for k in PAGE_KEYS if k.partition(".")[2] in known.get(k.partition(".")[0], {}))


def settings_path(home: Path) -> Path:
    return home / SETTINGS_FILE


def values(config: Config) -> dict[str, Any]:
    """Each page key's value in effect."""
    out: dict[str, Any] = {}
    for key in page_keys():
        section, _, name = key.partition(".")
        value = getattr(getattr(config, section), name)
        out[key] = list(value) if isinstance(value, tuple) else value
    return out


def sources(config: Config) -> dict[str, str]:
    """Where each page key's value comes from: default, config.toml (the config file),
    settings file, environment or command line."""
    out = {}
    for key in page_keys():
        origin = config.origins.get(key, "default")
        out[key] = (
            origin
            if origin in ("settings file", *_LOCKED)
            else ("default" if origin == "default" else "config.toml")
        )
    return out


def resolve(config: Config, changes: Mapping[str, Any]) -> Resolved:
    """`config` with `changes` ({"section.key": value}; None: back to the layers below)
    saved on top of what the settings file holds, checked by the config loader; or
    SettingsRefused naming the key."""
    allowed = page_keys()
    layer = {section: dict(keys) for section, keys in read_settings_file(config.home).items()}
    for key, value in changes.items():
        if key not in allowed:
            raise SettingsRefused(
                f"{key} cannot be set from the page; the page sets {', '.join(allowed)}", key
            )
        origin = config.origins.get(key)
        if origin in _LOCKED:
            where = f"TWIN_{key.replace('.', '__').upper()}" if origin == "environment" else "--set"
            raise SettingsRefused(
                f"{key} is set by the {origin} ({where}), which overrides the settings file; "
                "change or remove it there",
                key,
            )
        section, _, name = key.partition(".")
        if value is None:
            layer.get(section, {}).pop(name, None)
        else:
            layer.setdefault(section, {})[name] = value
    layer = {section: keys for section, keys in layer.items() if keys}
    try:
        resolved = load_config(
            config.overrides, home=config.home, config_file=config.config_file, settings=layer
        )
    except ConfigError as exc:
        found = _KEY_IN_MESSAGE.search(str(exc))
        raise SettingsRefused(str(exc), found.group(1) if found else None) from exc
    text = _toml(layer)
    try:
        tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:  # e.g. a control character TOML cannot hold
        raise SettingsRefused(f"the settings cannot be saved as TOML ({exc})", None) from exc
    return Resolved(resolved, layer, text)


def write(home: Path, text: str) -> Path:
    """Replace the settings file with `text`, atomically."""
    path = settings_path(home)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{SETTINGS_FILE}.{secrets.token_hex(4)}")
    try:
        with temporary.open("w", encoding="utf-8") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return path


def _toml(layer: Mapping[str, Mapping[str, Any]]) -> str:
    lines = [
        "# Saved by the web page (Settings). Precedence: flags > TWIN_* environment >",
        "# this file > config.toml > defaults. Edit it, or delete a line to fall back.",
    ]
    for section, keys in sorted(layer.items()):
        lines += ["", f"[{section}]"]
        lines += [f"{name} = {_toml_value(value)}" for name, value in sorted(keys.items())]
    return "\n".join(lines) + "\n"


def _toml_value(value: Any) -> str:
    """A TOML value: JSON's strings, numbers, booleans and arrays are TOML's too."""
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    return json.dumps(list(value) if isinstance(value, tuple) else value, ensure_ascii=False)
