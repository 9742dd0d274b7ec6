"""The settings file the web page saves ($TWIN_HOME/settings.toml): its place in the
precedence, and saves checked by the config loader's own rules, all or nothing."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from bot.config import is_secret_key, load_config
from bot.web.settings_file import SettingsRefused, page_keys, resolve, sources, values, write
from core.errors import ConfigError


def configs(tmp_path: Path) -> tuple[Path, Path]:
    home = tmp_path / "home"
    home.mkdir()
    config_toml = tmp_path / "config.toml"
    config_toml.write_text('[owner]\nname = "From File"\nbio = "file bio"\n[drafting]\nk = 2\n')
    return home, config_toml


def test_the_settings_file_sits_between_config_toml_and_the_environment(tmp_path: Path) -> None:
    home, config_toml = configs(tmp_path)
    (home / "settings.toml").write_text('[owner]\nname = "From Page"\n[drafting]\nk = 4\n')
    env = {"TWIN_DRAFTING__K": "5"}
    config = load_config(env=env, home=home, config_file=config_toml)
    assert config.owner.name == "From Page"  # settings file beats config.toml
    assert config.owner.bio == "file bio"  # config.toml where the page saved nothing
    assert config.drafting.k == 5  # the environment beats the settings file
    assert (
        load_config({"drafting.k": "6"}, env=env, home=home, config_file=config_toml).drafting.k
        == 6
    )
    assert sources(config)["owner.name"] == "settings file"
    assert sources(config)["owner.bio"] == "config.toml"
    assert sources(config)["drafting.k"] == "environment"
    assert sources(load_config(env={}, home=home))["drafting.temperature"] in (
        "default",
        "config.toml",
    )


def test_a_secret_in_the_settings_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "settings.toml").write_text('[model]\napi_key = "sk-1"\n')
    with pytest.raises(ConfigError, match="secrets come from the environment only"):
        load_config(env={}, home=tmp_path)


def test_a_save_is_checked_written_atomically_and_read_back(tmp_path: Path) -> None:
    home, config_toml = configs(tmp_path)
    config = load_config(env={}, home=home, config_file=config_toml)
    resolved = resolve(config, {"owner.names": ["Ann Lee", "@annlee"], "drafting.temperature": 0.2})
    assert resolved.config.owner.names == ("Ann Lee", "@annlee")
    assert not (home / "settings.toml").exists()  # resolving writes nothing
    write(home, resolved.text)
    saved = tomllib.loads((home / "settings.toml").read_text())
    assert saved == {"owner": {"names": ["Ann Lee", "@annlee"]}, "drafting": {"temperature": 0.2}}
    assert [p.name for p in home.iterdir()] == ["settings.toml"]  # no temporary left behind
    again = load_config(env={}, home=home, config_file=config_toml)
    assert values(again)["owner.names"] == ["Ann Lee", "@annlee"]
    # A later save keeps what was saved before; None drops a key back to the layers below.
    later = resolve(again, {"drafting.temperature": None, "owner.bio": 'a "quoted"\nbio'})
    write(home, later.text)
    final = load_config(env={}, home=home, config_file=config_toml)
    assert final.owner.names == ("Ann Lee", "@annlee")
    assert final.owner.bio == 'a "quoted"\nbio'
    assert final.drafting.temperature == 0.7


@pytest.mark.parametrize(
    ("changes", "key", "message"),
    [
        ({"drafting.k": -1}, "drafting.k", "config key drafting.k must be 0 or more"),
        (
            {"drafting.max_new_tokens": "many"},
            "drafting.max_new_tokens",
            "config key drafting.max_new_tokens (from settings file) must be an integer",
        ),
        ({"drafting.format": "tweet"}, "drafting.format", "must be one of linkedin, thread"),
        ({"owner.name": 3}, "owner.name", "must be a string, got 3"),
        ({"model.backend": "nope"}, "model.backend", "config key model.backend must be one of"),
        ({"web.host": "0.0.0.0"}, "web.host", "web.host cannot be set from the page"),
        ({"model.api_key": "sk"}, "model.api_key", "cannot be set from the page"),
    ],
)
def test_a_bad_save_names_the_key_and_writes_nothing(
    tmp_path: Path, changes: dict[str, object], key: str, message: str
) -> None:
    home, config_toml = configs(tmp_path)
    (home / "settings.toml").write_text('[owner]\nbio = "kept"\n')
    config = load_config(env={}, home=home, config_file=config_toml)
    with pytest.raises(SettingsRefused) as refused:
        resolve(config, {"owner.name": "Fine", **changes})
    assert refused.value.key == key
    assert message in str(refused.value)
    assert (home / "settings.toml").read_text() == '[owner]\nbio = "kept"\n'


def test_keys_set_above_the_settings_file_are_refused_saying_where(tmp_path: Path) -> None:
    home, config_toml = configs(tmp_path)
    config = load_config(
        {"owner.bio": "flag"}, env={"TWIN_OWNER__NAME": "Env"}, home=home, config_file=config_toml
    )
    with pytest.raises(
        SettingsRefused, match=r"owner.name is set by the environment \(TWIN_OWNER__NAME\)"
    ):
        resolve(config, {"owner.name": "Page"})
    with pytest.raises(SettingsRefused, match=r"owner.bio is set by the command line \(--set\)"):
        resolve(config, {"owner.bio": "Page"})


def test_the_page_keys_hold_no_secret_and_exist_in_the_config() -> None:
    keys = page_keys()
    assert {"owner.name", "owner.bio", "owner.names", "model.backend", "model.path"} <= set(keys)
    assert {"drafting.format", "drafting.max_new_tokens", "drafting.temperature"} <= set(keys)
    assert not any(is_secret_key(k) for k in keys)
    assert is_secret_key("model.api_key") and is_secret_key("telegram.token")
    assert set(values(load_config(env={}))) == set(keys)
