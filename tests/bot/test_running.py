"""How the command line finds a running bot: the announcement `serve` leaves in TWIN_HOME
(owner-only, taken down when it stops, ignored once its process is gone) and the settings
fingerprint both sides compare."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

from bot.config import load_config
from bot.running import FILE, TOKEN_FILE, announced, fingerprint, local_url, running_bot


def test_an_announced_bot_is_found_until_it_stops(tmp_path: Path) -> None:
    (tmp_path / TOKEN_FILE).write_text("the-token\n")
    assert running_bot(tmp_path) is None
    with announced(tmp_path, "http://127.0.0.1:8765"):
        path = tmp_path / FILE
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        found = running_bot(tmp_path)
        assert found is not None
        assert (found.url, found.pid, found.token) == (
            "http://127.0.0.1:8765",
            os.getpid(),
            "the-token",
        )
    assert not (tmp_path / FILE).exists()
    assert running_bot(tmp_path) is None


def test_a_bot_that_died_or_has_no_token_is_not_found(tmp_path: Path) -> None:
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    (tmp_path / FILE).write_text(json.dumps({"pid": int(gone.stdout), "url": "http://127.0.0.1:1"}))
    (tmp_path / TOKEN_FILE).write_text("t\n")
    assert running_bot(tmp_path) is None  # killed hard: its file stayed behind
    (tmp_path / FILE).write_text(json.dumps({"pid": os.getpid(), "url": "http://127.0.0.1:1"}))
    assert running_bot(tmp_path) is not None
    (tmp_path / TOKEN_FILE).write_text("")
    assert running_bot(tmp_path) is None
    (tmp_path / TOKEN_FILE).write_text("t\n")
    (tmp_path / FILE).write_text("{not json")
    assert running_bot(tmp_path) is None


def test_another_bots_announcement_is_left_alone(tmp_path: Path) -> None:
    with announced(tmp_path, "http://127.0.0.1:1"):
        other = {"pid": os.getpid() + 1, "url": "http://127.0.0.1:2", "tls_cert": None}
        (tmp_path / FILE).write_text(json.dumps(other))  # a newer bot took the home over
    assert json.loads((tmp_path / FILE).read_text()) == other


def test_the_fingerprint_follows_the_settings_but_not_web_or_where_they_came_from(
    twin_home: Path,
) -> None:
    base = fingerprint(load_config({"drafting.k": "2"}))
    assert fingerprint(load_config({"drafting.k": "2", "web.port": "0"})) == base
    assert fingerprint(load_config({"drafting.k": "3"})) != base
    assert fingerprint(load_config({"drafting.k": "2", "search.alpha": "0.7"})) != base


def test_the_address_to_call_is_on_this_machine() -> None:
    assert local_url("0.0.0.0", 8765, tls=False) == "http://127.0.0.1:8765"
    assert local_url("::", 8765, tls=True) == "https://[::1]:8765"
    assert local_url("127.0.0.1", 1, tls=False) == "http://127.0.0.1:1"
