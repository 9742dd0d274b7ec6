from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from bot.config import default_keys, load_config
from core.errors import ConfigError

REPO_CONFIG = Path(__file__).resolve().parents[2] / "config.toml"


def test_defaults_without_file_or_env(tmp_path: Path) -> None:
    config = load_config(env={}, config_file=None, home=tmp_path)
    assert config.search.alpha == 0.5
    assert config.ingest.allow_private_networks is False
    assert config.ingest.max_bytes == 10 * 1024 * 1024
    assert config.warehouse_url == f"sqlite:///{(tmp_path / 'warehouse.db').resolve()}"
    assert config.index_path == tmp_path / "index"


def test_shipped_config_documents_every_key_with_its_default() -> None:
    shipped = tomllib.loads(REPO_CONFIG.read_text())
    defaults = {
        section: {k: list(v) if isinstance(v, tuple) else v for k, v in keys.items()}
        for section, keys in default_keys().items()
    }
    assert shipped == defaults
    lines = REPO_CONFIG.read_text().splitlines()
    for number, line in enumerate(lines):
        if "=" in line and not line.lstrip().startswith("#"):
            assert lines[number - 1].lstrip().startswith("#") or "=" in lines[number - 1], (
                f"config.toml line {number + 1} ({line!r}) has no comment above it"
            )


def test_precedence_cli_over_env_over_file_over_defaults(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text("[search]\nk = 7\nalpha = 0.2\n[ingest]\nretries = 9\n")
    env = {"TWIN_SEARCH__ALPHA": "0.3", "TWIN_CONFIG": str(cfg)}
    config = load_config({"search.alpha": "0.9"}, env=env)
    assert config.search.alpha == 0.9  # CLI
    assert config.ingest.retries == 9  # file
    assert config.search.k == 7  # file
    config = load_config(env=env)
    assert config.search.alpha == 0.3  # env beats file
    assert config.config_file == cfg


def test_env_values_are_typed(tmp_path: Path) -> None:
    env = {
        "TWIN_INGEST__ALLOW_PRIVATE_NETWORKS": "true",
        "TWIN_INGEST__ALLOWED_NETWORKS": "127.0.0.1/32, 10.0.0.0/8",
        "TWIN_INGEST__MAX_BYTES": "2_000_000",
        "TWIN_INGEST__READ_TIMEOUT": "2.5",
        "TWIN_HOME": str(tmp_path / "h"),
    }
    config = load_config(env=env)
    assert config.ingest.allow_private_networks is True
    assert config.ingest.allowed_networks == ("127.0.0.1/32", "10.0.0.0/8")
    assert config.ingest.max_bytes == 2_000_000
    assert config.ingest.read_timeout == 2.5
    assert config.home == tmp_path / "h"
    json_list = load_config(env={"TWIN_INGEST__ALLOWED_NETWORKS": '["::1/128"]'})
    assert json_list.ingest.allowed_networks == ("::1/128",)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"TWIN_INGEST__ALLOW_PRIVATE_NETWORKS": "maybe"}, "ingest.allow_private_networks"),
        ({"TWIN_INGEST__RETRIES": "many"}, "ingest.retries (from environment) must be an int"),
        ({"TWIN_SEARCH__ALPHA": "1.5"}, "search.alpha must be between 0 and 1"),
        ({"TWIN_INGEST__NOPE": "1"}, "unknown config key ingest.nope (from environment)"),
        ({"TWIN_NOPE__X": "1"}, "unknown config section 'nope'"),
        ({"TWIN_CHUNKING__OVERLAP_TOKENS": "500"}, "chunking.overlap_tokens"),
    ],
)
def test_bad_values_name_the_key(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_config(env=env)


def test_secrets_are_refused_in_the_file(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('[warehouse]\npassword = "hunter2"\n')
    with pytest.raises(ConfigError, match="secrets come from the environment only") as info:
        load_config(env={}, config_file=cfg)
    assert "hunter2" not in str(info.value)


def test_broken_or_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(env={"TWIN_CONFIG": str(tmp_path / "missing.toml")})
    bad = tmp_path / "bad.toml"
    bad.write_text("[search\nk=")
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(env={}, config_file=bad)


def test_bad_override_syntax() -> None:
    with pytest.raises(ConfigError, match=r"section\.key=value"):
        load_config({"alpha": "1"}, env={})
