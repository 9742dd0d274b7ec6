"""Who may reach the web page: the token kept in TWIN_HOME (the same across restarts,
rotated by a command, picked up by a running page) and where the page may listen."""

from __future__ import annotations

import dataclasses
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli.main import cli
from bot.config import load_config
from bot.web.access import WebToken, check_bind, is_loopback, tls_context
from bot.web.settings import WebSettings
from core.errors import ConfigError


def test_the_token_is_kept_owner_only_and_survives_a_restart(tmp_path: Path) -> None:
    first = WebToken(tmp_path / "home").value()
    path = tmp_path / "home" / "web_token"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(first) >= 32
    # A new process (a restart) reads the same token.
    assert WebToken(tmp_path / "home").value() == first
    assert WebToken(tmp_path / "home").matches(first)
    assert not WebToken(tmp_path / "home").matches(first + "x")
    assert not WebToken(tmp_path / "home").matches("")


def test_a_rotated_token_is_picked_up_by_a_running_page(tmp_path: Path) -> None:
    running = WebToken(tmp_path)
    old = running.value()
    new = WebToken(tmp_path).rotate()  # `llm-twin web-token --rotate` in another process
    assert new != old
    assert running.matches(new) and not running.matches(old)


def test_a_token_file_readable_by_others_is_made_owner_only(tmp_path: Path) -> None:
    (tmp_path / "web_token").write_text("abc\n")
    (tmp_path / "web_token").chmod(0o644)
    assert WebToken(tmp_path).value() == "abc"
    assert stat.S_IMODE((tmp_path / "web_token").stat().st_mode) == 0o600


def test_the_cli_prints_the_address_and_rotates(twin_home: Path) -> None:
    runner = CliRunner()
    shown = runner.invoke(cli, ["web-token"])
    assert shown.exit_code == 0, shown.output
    token = WebToken(twin_home).value()
    assert shown.output.strip() == f"http://127.0.0.1:8765/#token={token}"
    again = runner.invoke(cli, ["web-token"])
    assert again.output == shown.output
    rotated = runner.invoke(cli, ["web-token", "--rotate"])
    assert rotated.exit_code == 0
    assert token not in rotated.output and WebToken(twin_home).value() in rotated.output


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "127.0.0.2"])
def test_loopback_hosts_need_nothing(host: str) -> None:
    assert is_loopback(host)
    check_bind(WebSettings(host=host))


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.5", "twin.example.org", "::"])
def test_other_hosts_need_tls_or_an_explicit_override(host: str) -> None:
    with pytest.raises(ConfigError) as refused:
        check_bind(WebSettings(host=host))
    message = str(refused.value)
    assert message.startswith(f"web.host {host} is not loopback")
    assert "web.tls_cert" in message and "web.allow_remote = true" in message
    assert "\n" not in message
    check_bind(WebSettings(host=host, allow_remote=True))
    check_bind(WebSettings(host=host, tls_cert="c.pem", tls_key="k.pem"))


def test_tls_settings_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"web\.tls_cert and web\.tls_key go together"):
        load_config({"web.tls_cert": "cert.pem"})
    with pytest.raises(ConfigError, match=r"web\.max_upload_mb must be at least 1"):
        load_config({"web.max_upload_mb": "0"})
    missing = WebSettings(tls_cert=str(tmp_path / "no.pem"), tls_key=str(tmp_path / "no.key"))
    with pytest.raises(ConfigError, match="cannot load them"):
        tls_context(missing)
    assert tls_context(dataclasses.replace(missing, tls_cert="", tls_key="")) is None


def test_serve_refuses_a_public_host_without_tls_before_loading_anything() -> None:
    result = CliRunner().invoke(cli, ["--set", "web.host=0.0.0.0", "serve"])
    assert result.exit_code == 2
    assert "error: web.host 0.0.0.0 is not loopback" in result.output
    assert "web.tls_cert and web.tls_key, or web.allow_remote = true" in result.output
