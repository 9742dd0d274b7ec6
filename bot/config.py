"""Configuration: one function resolves it, with CLI > env > settings file > config file >
defaults.

Every section is the settings dataclass of the package it configures (`ingest/settings.py`,
`model/settings.py`, …, one field per key); `Config` composes them and this module applies
precedence and validation once. `config.toml` at the repository root documents each key
(a test keeps the two in step). The settings file, `$TWIN_HOME/settings.toml`, holds what
the owner saved from the web page (bot/web/settings_file.py writes it). Any key can be
overridden from the environment as `TWIN_<SECTION>__<KEY>`. `TWIN_HOME` sets the state dir,
`TWIN_CONFIG` another config file. Secrets never come from either file.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import tomllib
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.chat.settings import ChatSettings, SlackSettings, TelegramSettings
from bot.schedules.settings import SchedulesSettings
from bot.web.settings import WebSettings
from core.errors import ConfigError
from core.faults import describe
from ingest.settings import (
    ChunkingSettings,
    ExportsSettings,
    FetchPolicy,
    GitHubSettings,
    LinkedInSettings,
    WarehouseSettings,
)
from model.settings import DraftSettings, ModelSettings, OwnerSettings
from retrieval.settings import EmbeddingSettings, IndexSettings, SearchSettings
from training.settings import TrainingSettings

DEFAULT_HOME = Path(".twin")
# The settings saved from the web page, in TWIN_HOME: above config.toml, below env and flags.
SETTINGS_FILE = "settings.toml"
ENV_PREFIX = "TWIN_"
# LinkedIn's username and cookies travel with its password: from the environment only.
_SECRET_KEY = re.compile(r"(^|_)(token|secret|password|passwd|api_key|apikey|username|cookies)$")


@dataclass(frozen=True)
class Config:
    """Every section, each the settings dataclass of the package it configures."""

    home: Path = DEFAULT_HOME
    warehouse: WarehouseSettings = field(default_factory=WarehouseSettings)
    ingest: FetchPolicy = field(default_factory=FetchPolicy)
    chunking: ChunkingSettings = field(default_factory=ChunkingSettings)
    embedding: EmbeddingSettings = field(default_factory=EmbeddingSettings)
    index: IndexSettings = field(default_factory=IndexSettings)
    search: SearchSettings = field(default_factory=SearchSettings)
    model: ModelSettings = field(default_factory=ModelSettings)
    owner: OwnerSettings = field(default_factory=OwnerSettings)
    drafting: DraftSettings = field(default_factory=DraftSettings)
    training: TrainingSettings = field(default_factory=TrainingSettings)
    chat: ChatSettings = field(default_factory=ChatSettings)
    telegram: TelegramSettings = field(default_factory=TelegramSettings)
    slack: SlackSettings = field(default_factory=SlackSettings)
    web: WebSettings = field(default_factory=WebSettings)
    github: GitHubSettings = field(default_factory=GitHubSettings)
    linkedin: LinkedInSettings = field(default_factory=LinkedInSettings)
    exports: ExportsSettings = field(default_factory=ExportsSettings)
    schedules: SchedulesSettings = field(default_factory=SchedulesSettings)
    # Where the values came from, for `llm-twin config`; not a setting itself.
    config_file: Path | None = None
    # Each key set by a layer, with that layer ("command line", "environment", "settings
    # file" or the config file's path; absent: the default), and the flags given: what
    # the web page's settings show, and how they are resolved again after a save.
    origins: Mapping[str, str] = field(default_factory=dict, compare=False)
    overrides: Mapping[str, Any] = field(default_factory=dict, compare=False)

    @property
    def warehouse_url(self) -> str:
        return self.warehouse.url or f"sqlite:///{(self.home / 'warehouse.db').resolve()}"

    @property
    def index_path(self) -> Path:
        return Path(self.index.path) if self.index.path else self.home / "index"

    @property
    def model_cache_dir(self) -> Path:
        return Path(self.model.cache_dir) if self.model.cache_dir else self.home / "models"

    def validate(self) -> None:
        """Each section checks its own keys; the first refusal names its key."""
        for name in SECTIONS:
            getattr(self, name).validate()


SECTIONS: dict[str, type[Any]] = {
    f.name: typing.get_type_hints(Config)[f.name]
    for f in dataclasses.fields(Config)
    if dataclasses.is_dataclass(typing.get_type_hints(Config)[f.name])
}


def default_keys() -> dict[str, dict[str, Any]]:
    """Every section and key with its built-in default (used by tests and `config`)."""
    return {name: dataclasses.asdict(cls()) for name, cls in SECTIONS.items()}


def load_config(
    overrides: Mapping[str, Any] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    home: Path | None = None,
    config_file: Path | None = None,
    settings: Mapping[str, Mapping[str, Any]] | None = None,
) -> Config:
    """Resolve the config. `overrides` holds CLI values as {"section.key": value}.

    Precedence, highest first: `overrides` (CLI flags), `TWIN_<SECTION>__<KEY>` env vars,
    the settings file (`settings`, else `$TWIN_HOME/settings.toml` if present), the config
    file (`config_file`, else `TWIN_CONFIG`, else ./config.toml if present), the defaults
    above.
    """
    env = os.environ if env is None else env
    home = home or Path(env.get("TWIN_HOME") or DEFAULT_HOME)
    path = config_file or (Path(env["TWIN_CONFIG"]) if env.get("TWIN_CONFIG") else None)
    if path is None and Path("config.toml").is_file():
        path = Path("config.toml")

    values = default_keys()
    origins: dict[str, str] = {}
    if path is not None:
        _merge(values, origins, _read_file(path), origin=str(path))
    saved = read_settings_file(home) if settings is None else settings
    _merge(values, origins, saved, origin="settings file")
    _merge(values, origins, _from_env(env), origin="environment")
    _merge(values, origins, _nest(overrides or {}), origin="command line")

    sections = {
        name: _build_section(name, SECTIONS[name], raw, origins) for name, raw in values.items()
    }
    config = Config(
        home=home,
        config_file=path,
        origins=origins,
        overrides=dict(overrides or {}),
        **sections,
    )
    config.validate()
    return config


def read_settings_file(home: Path) -> dict[str, dict[str, Any]]:
    """What the owner saved from the web page ({} when nothing was); the config file's
    rules apply (no secrets, [section] tables)."""
    path = home / SETTINGS_FILE
    try:
        present = path.is_file()
    except OSError as exc:  # an unreadable TWIN_HOME: say so before anything opens
        raise ConfigError(describe(exc, home, "reading it", "TWIN_HOME")) from None
    return _read_file(path) if present else {}


def is_secret_key(key: str) -> bool:
    """Whether a key's name (`key` or `section.key`) says it holds a secret."""
    return bool(_SECRET_KEY.search(key.rpartition(".")[2].lower()))


def secret(section: str, key: str, env: Mapping[str, str] | None = None) -> str | None:
    """A secret from the environment only (`TWIN_<SECTION>__<KEY>`); never from a file."""
    env = os.environ if env is None else env
    return env.get(f"{ENV_PREFIX}{section.upper()}__{key.upper()}") or None


def _read_file(path: Path) -> dict[str, dict[str, Any]]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist (check TWIN_CONFIG)") from None
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from exc
    for section, keys in data.items():
        if not isinstance(keys, dict):
            raise ConfigError(f"{path}: top-level key {section!r} must be a [section] table")
        for key in keys:
            if _SECRET_KEY.search(key.lower()):
                raise ConfigError(
                    f"{path}: {section}.{key} looks like a secret; secrets come from the "
                    f"environment only (set {ENV_PREFIX}{section.upper()}__{key.upper()})"
                )
    return data


def _from_env(env: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for name, value in env.items():
        if not name.startswith(ENV_PREFIX) or "__" not in name:
            continue
        section, _, key = name[len(ENV_PREFIX) :].partition("__")
        if _SECRET_KEY.search(key.lower()):
            continue  # a secret, read where it is used (see `secret`), never a setting
        out.setdefault(section.lower(), {})[key.lower()] = value
    return out


def _nest(flat: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for dotted, value in flat.items():
        section, sep, key = dotted.partition(".")
        if not sep:
            raise ConfigError(f"override {dotted!r} must look like section.key=value")
        out.setdefault(section, {})[key] = value
    return out


def _merge(
    values: dict[str, dict[str, Any]],
    origins: dict[str, str],
    layer: Mapping[str, Mapping[str, Any]],
    *,
    origin: str,
) -> None:
    for section, keys in layer.items():
        if section not in values:
            raise ConfigError(
                f"unknown config section {section!r} (from {origin}); "
                f"known sections: {', '.join(sorted(values))}"
            )
        for key, value in keys.items():
            if key not in values[section]:
                raise ConfigError(
                    f"unknown config key {section}.{key} (from {origin}); keys in "
                    f"[{section}]: {', '.join(sorted(values[section]))}"
                )
            values[section][key] = value
            origins[f"{section}.{key}"] = origin


def _build_section(
    name: str, cls: type[Any], raw: Mapping[str, Any], origins: Mapping[str, str]
) -> Any:
    hints = typing.get_type_hints(cls)
    kwargs = {
        key: _coerce(value, hints[key], f"{name}.{key}", origins.get(f"{name}.{key}", "defaults"))
        for key, value in raw.items()
    }
    return cls(**kwargs)


def _coerce(value: Any, target: Any, key: str, origin: str) -> Any:
    def bad(expected: str) -> ConfigError:
        return ConfigError(f"config key {key} (from {origin}) must be {expected}, got {value!r}")

    if typing.get_origin(target) is tuple or target is tuple:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                try:
                    value = json.loads(text)
                except ValueError:
                    raise bad('a list, e.g. ["a", "b"] or a,b') from None
            else:
                value = [part.strip() for part in text.split(",") if part.strip()]
        if not isinstance(value, list | tuple):
            raise bad("a list")
        return tuple(str(item) for item in value)
    if target is bool:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in {"1", "true", "yes", "on"}:
            return True
        if text in {"0", "false", "no", "off"}:
            return False
        raise bad("true or false")
    if target is int:
        if isinstance(value, bool):
            raise bad("an integer")
        try:
            return int(str(value).replace("_", "")) if not isinstance(value, int) else value
        except ValueError:
            raise bad("an integer") from None
    if target is float:
        if isinstance(value, bool):
            raise bad("a number")
        try:
            return float(value)
        except (TypeError, ValueError):
            raise bad("a number") from None
    if target is str:
        if not isinstance(value, str):
            raise bad("a string")
        return value
    raise bad(str(target))
