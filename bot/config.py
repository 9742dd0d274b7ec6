"""Configuration: one function resolves it, with CLI > env > config file > defaults.

Every key lives in a section dataclass below; `config.toml` at the repository root
documents each one (a test keeps the two in step). Any key can be overridden from the
environment as `TWIN_<SECTION>__<KEY>`. `TWIN_HOME` sets the state dir, `TWIN_CONFIG`
another config file. Secrets never come from the file.
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

from retrieval.errors import ConfigError

DEFAULT_HOME = Path(".twin")
ENV_PREFIX = "TWIN_"
_SECRET_KEY = re.compile(r"(^|_)(token|secret|password|passwd|api_key|apikey)$")


@dataclass(frozen=True)
class WarehouseConfig:
    url: str = ""


@dataclass(frozen=True)
class IngestConfig:
    allow_private_networks: bool = False
    allowed_networks: tuple[str, ...] = ()
    connect_timeout: float = 10.0
    read_timeout: float = 30.0
    max_bytes: int = 10 * 1024 * 1024
    max_redirects: int = 5
    retries: int = 3
    backoff_base: float = 0.5
    max_retry_after: float = 60.0
    per_host_concurrency: int = 2
    concurrency: int = 4
    user_agent: str = "llm-twin/0.1 (+self-hosted writing assistant)"


@dataclass(frozen=True)
class ChunkingConfig:
    max_tokens: int = 200
    overlap_tokens: int = 32


@dataclass(frozen=True)
class EmbeddingConfig:
    model: str = ""
    batch_size: int = 16
    device: str = "cpu"


@dataclass(frozen=True)
class IndexConfig:
    backend: str = "lance"
    path: str = ""
    ann_min_rows: int = 20_000
    candidates: int = 50
    write_batch_chunks: int = 256


@dataclass(frozen=True)
class SearchConfig:
    k: int = 5
    alpha: float = 0.5


@dataclass(frozen=True)
class Config:
    home: Path = DEFAULT_HOME
    warehouse: WarehouseConfig = field(default_factory=WarehouseConfig)
    ingest: IngestConfig = field(default_factory=IngestConfig)
    chunking: ChunkingConfig = field(default_factory=ChunkingConfig)
    embedding: EmbeddingConfig = field(default_factory=EmbeddingConfig)
    index: IndexConfig = field(default_factory=IndexConfig)
    search: SearchConfig = field(default_factory=SearchConfig)
    # Where the values came from, for `llm-twin config`; not a setting itself.
    config_file: Path | None = None

    @property
    def warehouse_url(self) -> str:
        return self.warehouse.url or f"sqlite:///{(self.home / 'warehouse.db').resolve()}"

    @property
    def index_path(self) -> Path:
        return Path(self.index.path) if self.index.path else self.home / "index"

    def validate(self) -> None:
        def need(ok: bool, key: str, what: str) -> None:
            if not ok:
                raise ConfigError(f"config key {key} {what}")

        need(0.0 <= self.search.alpha <= 1.0, "search.alpha", "must be between 0 and 1")
        need(self.search.k >= 1, "search.k", "must be at least 1")
        need(self.chunking.max_tokens >= 16, "chunking.max_tokens", "must be at least 16")
        need(
            0 <= self.chunking.overlap_tokens < self.chunking.max_tokens,
            "chunking.overlap_tokens",
            "must be at least 0 and below chunking.max_tokens",
        )
        need(self.ingest.max_bytes > 0, "ingest.max_bytes", "must be positive")
        need(0 <= self.ingest.max_redirects <= 20, "ingest.max_redirects", "must be 0..20")
        need(self.ingest.concurrency >= 1, "ingest.concurrency", "must be at least 1")
        need(
            self.ingest.per_host_concurrency >= 1,
            "ingest.per_host_concurrency",
            "must be at least 1",
        )
        need(self.embedding.batch_size >= 1, "embedding.batch_size", "must be at least 1")


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
) -> Config:
    """Resolve the config. `overrides` holds CLI values as {"section.key": value}.

    Precedence, highest first: `overrides` (CLI flags), `TWIN_<SECTION>__<KEY>` env vars,
    the config file (`config_file`, else `TWIN_CONFIG`, else ./config.toml if present),
    the defaults above.
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
    _merge(values, origins, _from_env(env), origin="environment")
    _merge(values, origins, _nest(overrides or {}), origin="command line")

    sections = {
        name: _build_section(name, SECTIONS[name], raw, origins) for name, raw in values.items()
    }
    config = Config(home=home, config_file=path, **sections)
    config.validate()
    return config


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
