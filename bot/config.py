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

from bot.config_schedules import SchedulesConfig
from bot.config_sources import ExportsConfig, GitHubConfig, LinkedInConfig, validate_sources
from core.errors import ConfigError
from model.prompts import FORMATS

DEFAULT_HOME = Path(".twin")
ENV_PREFIX = "TWIN_"
MODEL_BACKENDS = ("hf", "exl2", "openai")
EXL2_CACHES = ("fp16", "q8", "q6", "q4")
PROMOTE_METRICS = ("perplexity", "style")
# LinkedIn's username and cookies travel with its password: from the environment only.
_SECRET_KEY = re.compile(r"(^|_)(token|secret|password|passwd|api_key|apikey|username|cookies)$")


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
    weaviate_url: str = "http://localhost:8080"
    weaviate_grpc_url: str = ""
    weaviate_cloud: bool = False
    weaviate_collection: str = "TwinChunk"
    weaviate_tenant: str = ""
    weaviate_shards: int = 0
    weaviate_replication_factor: int = 0
    weaviate_consistency: str = ""
    weaviate_batch_size: int = 200
    weaviate_timeout: float = 30.0


@dataclass(frozen=True)
class SearchConfig:
    k: int = 5
    alpha: float = 0.5


@dataclass(frozen=True)
class ModelConfig:
    backend: str = "hf"
    path: str = ""
    gguf_file: str = ""
    adapter: str = ""
    device: str = "cpu"
    max_seq_len: int = 4096
    threads: int = 0
    cache: str = "q6"
    url: str = ""
    name: str = ""
    cache_dir: str = ""
    max_new_tokens: int = 1024
    timeout: float = 600.0
    slots: int = 0
    reload_interval: float = 15.0


@dataclass(frozen=True)
class OwnerConfig:
    name: str = ""
    bio: str = ""
    names: tuple[str, ...] = ()


@dataclass(frozen=True)
class DraftingConfig:
    format: str = "linkedin"
    max_new_tokens: int = 400
    temperature: float = 0.7
    top_p: float = 0.9
    repetition_penalty: float = 1.1
    k: int = 6
    context_tokens: int = 1500
    expand_queries: int = 0
    infer_filters: bool = True
    ingest_links: bool = False
    max_links: int = 3


@dataclass(frozen=True)
class TrainingConfig:
    instructions: str = "template"
    test_fraction: float = 0.1
    min_answer_words: int = 30
    max_answer_tokens: int = 512
    min_documents: int = 5
    base_model: str = ""
    lora_rank: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    target_modules: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj")
    epochs: float = 3.0
    max_steps: int = 0
    batch_size: int = 4
    grad_accum: int = 4
    learning_rate: float = 2e-4
    max_seq_len: int = 1024
    gradient_checkpointing: bool = True
    qlora: bool = False
    save_steps: int = 50
    threads: int = 0
    dpo_beta: float = 0.1
    dpo_learning_rate: float = 5e-6
    dpo_epochs: float = 1.0
    min_preference_pairs: int = 8
    synthetic_pairs: int = 32
    eval_drafts: int = 8
    eval_samples: int = 3
    eval_max_new_tokens: int = 200
    promote_metric: str = "perplexity"
    quantize_bits: float = 4.0
    quantize_head_bits: int = 6


@dataclass(frozen=True)
class ChatConfig:
    rate_per_minute: int = 20
    edit_interval: float = 1.0


@dataclass(frozen=True)
class TelegramConfig:
    base_url: str = ""
    allowed_user_ids: tuple[str, ...] = ()
    webhook_url: str = ""
    webhook_port: int = 8443


@dataclass(frozen=True)
class SlackConfig:
    base_url: str = ""
    port: int = 3000
    allowed_user_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class WebConfig:
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = 8765


@dataclass(frozen=True)
class Config:
    home: Path = DEFAULT_HOME
    warehouse: WarehouseConfig = field(default_factory=WarehouseConfig)
    ingest: IngestConfig = field(default_factory=IngestConfig)
    chunking: ChunkingConfig = field(default_factory=ChunkingConfig)
    embedding: EmbeddingConfig = field(default_factory=EmbeddingConfig)
    index: IndexConfig = field(default_factory=IndexConfig)
    search: SearchConfig = field(default_factory=SearchConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    owner: OwnerConfig = field(default_factory=OwnerConfig)
    drafting: DraftingConfig = field(default_factory=DraftingConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    chat: ChatConfig = field(default_factory=ChatConfig)
    telegram: TelegramConfig = field(default_factory=TelegramConfig)
    slack: SlackConfig = field(default_factory=SlackConfig)
    web: WebConfig = field(default_factory=WebConfig)
    github: GitHubConfig = field(default_factory=GitHubConfig)
    linkedin: LinkedInConfig = field(default_factory=LinkedInConfig)
    exports: ExportsConfig = field(default_factory=ExportsConfig)
    schedules: SchedulesConfig = field(default_factory=SchedulesConfig)
    # Where the values came from, for `llm-twin config`; not a setting itself.
    config_file: Path | None = None

    @property
    def warehouse_url(self) -> str:
        return self.warehouse.url or f"sqlite:///{(self.home / 'warehouse.db').resolve()}"

    @property
    def index_path(self) -> Path:
        return Path(self.index.path) if self.index.path else self.home / "index"

    @property
    def owner_names(self) -> tuple[str, ...]:
        """Whose documents are the owner's: owner.names, else owner.name."""
        return self.owner.names or ((self.owner.name,) if self.owner.name else ())

    @property
    def model_cache_dir(self) -> Path:
        return Path(self.model.cache_dir) if self.model.cache_dir else self.home / "models"

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
        need(
            self.model.backend in MODEL_BACKENDS,
            "model.backend",
            f"must be one of {', '.join(MODEL_BACKENDS)}",
        )
        need(
            self.model.cache in EXL2_CACHES,
            "model.cache",
            f"must be one of {', '.join(EXL2_CACHES)}",
        )
        need(
            self.model.backend != "openai" or bool(self.model.url),
            "model.url",
            "must be set when model.backend is openai (e.g. http://gpu-host:5000/v1)",
        )
        need(self.model.max_seq_len >= 256, "model.max_seq_len", "must be at least 256")
        need(self.model.max_new_tokens >= 1, "model.max_new_tokens", "must be at least 1")
        need(self.model.timeout > 0, "model.timeout", "must be positive")
        need(self.model.reload_interval >= 0, "model.reload_interval", "must be 0 (off) or more")
        need(
            self.drafting.format in FORMATS,
            "drafting.format",
            f"must be one of {', '.join(FORMATS)}",
        )
        need(self.drafting.max_new_tokens >= 16, "drafting.max_new_tokens", "must be at least 16")
        need(self.drafting.temperature >= 0, "drafting.temperature", "must be 0 or more")
        need(0 < self.drafting.top_p <= 1, "drafting.top_p", "must be in (0, 1]")
        need(self.drafting.k >= 0, "drafting.k", "must be 0 or more")
        need(self.drafting.context_tokens >= 0, "drafting.context_tokens", "must be 0 or more")
        need(0 <= self.drafting.expand_queries <= 5, "drafting.expand_queries", "must be 0..5")
        need(0 <= self.drafting.max_links <= 10, "drafting.max_links", "must be 0..10")
        need(
            self.training.instructions in ("template", "model"),
            "training.instructions",
            'must be "template" or "model"',
        )
        need(0 < self.training.test_fraction < 1, "training.test_fraction", "must be in (0, 1)")
        need(self.training.min_answer_words >= 1, "training.min_answer_words", "must be >= 1")
        need(self.training.max_answer_tokens >= 32, "training.max_answer_tokens", "must be >= 32")
        need(self.training.min_documents >= 2, "training.min_documents", "must be at least 2")
        t = self.training
        need(t.lora_rank >= 1, "training.lora_rank", "must be at least 1")
        need(t.lora_alpha >= 1, "training.lora_alpha", "must be at least 1")
        need(0 <= t.lora_dropout < 1, "training.lora_dropout", "must be in [0, 1)")
        need(t.epochs > 0, "training.epochs", "must be positive")
        need(t.max_steps >= 0, "training.max_steps", "must be 0 (use epochs) or more")
        need(t.batch_size >= 1, "training.batch_size", "must be at least 1")
        need(t.grad_accum >= 1, "training.grad_accum", "must be at least 1")
        need(0 < t.learning_rate < 1, "training.learning_rate", "must be in (0, 1)")
        need(t.max_seq_len >= 64, "training.max_seq_len", "must be at least 64")
        need(t.save_steps >= 1, "training.save_steps", "must be at least 1")
        need(t.dpo_beta > 0, "training.dpo_beta", "must be positive")
        need(t.eval_drafts >= 0, "training.eval_drafts", "must be 0 or more")
        need(
            t.promote_metric in PROMOTE_METRICS,
            "training.promote_metric",
            f"must be one of {', '.join(PROMOTE_METRICS)}",
        )
        need(2.0 <= t.quantize_bits <= 8.0, "training.quantize_bits", "must be 2.0..8.0")
        need(t.quantize_head_bits in (6, 8), "training.quantize_head_bits", "must be 6 or 8")
        need(self.chat.rate_per_minute >= 1, "chat.rate_per_minute", "must be at least 1")
        need(self.chat.edit_interval > 0, "chat.edit_interval", "must be positive")
        for key, port in (
            ("web.port", self.web.port),
            ("slack.port", self.slack.port),
            ("telegram.webhook_port", self.telegram.webhook_port),
        ):
            need(0 <= port <= 65535, key, "must be a TCP port (0..65535; 0 picks a free one)")
        validate_sources(self.github, self.linkedin, self.exports, need)
        self.schedules.validate()


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
