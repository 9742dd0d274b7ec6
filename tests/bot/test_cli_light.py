"""Commands that need no model never import it: `--help`, `config`, `sources`,
`schedules`, `forget` and a refused `ingest` run in a fresh process, and what that process
imported is read from `python -X importtime`. A refused input is refused before the index
or any model is opened (no index folder appears), with the pipeline's own words."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

# What a light command must never import: the model stack, the index, the network stack
# and the HTML extraction it only needs to fetch.
HEAVY = ("torch", "transformers", "sentence_transformers", "lancedb", "aiohttp", "trafilatura")


def run_cli(home: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """`llm-twin ARGS` in a fresh interpreter; the result and every module it imported."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TWIN_")}
    env |= {"TWIN_HOME": str(home), "TWIN_LOCAL": "1"}
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "bot", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    imported = {
        line.rsplit("|", 1)[-1].strip()
        for line in done.stderr.splitlines()
        if line.startswith("import time:")
    }
    done.stderr = "\n".join(
        line for line in done.stderr.splitlines() if not line.startswith("import time:")
    )
    return done, imported


def heavy(imported: set[str]) -> list[str]:
    return sorted(name for name in imported if name.split(".")[0] in HEAVY)


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (("--help",), 0),
        (("config",), 0),
        (("sources",), 0),
        (("schedules",), 0),
        (("forget", "https://example.com/never-ingested"), 1),
        (("draft", "   "), 2),
    ],
    ids=["help", "config", "sources", "schedules", "forget-unknown", "draft-empty"],
)
def test_light_commands_import_nothing_heavy(
    twin_home: Path, args: tuple[str, ...], code: int
) -> None:
    done, imported = run_cli(twin_home, *args)
    assert done.returncode == code, done.stderr
    assert heavy(imported) == []
    assert not (twin_home / "index").exists()


def test_refused_inputs_are_refused_before_anything_is_opened(
    twin_home: Path, tmp_path: Path
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    (tmp_path / "notes.pdf").write_bytes(b"%PDF-1.4")
    (tmp_path / "broken.zip").write_bytes(b"not a zip")
    with zipfile.ZipFile(tmp_path / "photos.zip", "w") as archive:
        archive.writestr("holiday/IMG_0001.txt", "not an export")
    refused = [
        "ftp://example.com/post",
        "http://exa mple.com/",
        "http://127.0.0.1:8080/admin",
        "https://localhost/x",
        "http://[::1]/x",
        "http://169.254.169.254/latest/meta-data",
        str(tmp_path / "missing.md"),
        str(empty),
        str(tmp_path / "notes.pdf"),
        str(tmp_path / "broken.zip"),
        str(tmp_path / "photos.zip"),
    ]
    done, imported = run_cli(twin_home, "ingest", *refused)
    assert done.returncode == 1, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == len(refused) + 1 and lines[-1] == "11 inputs: all failed"
    assert all(line.startswith("✗ ") for line in lines[:-1])
    assert "unsupported scheme 'ftp:'" in lines[0]
    assert "loopback address 127.0.0.1 refused" in lines[2]
    assert "host 'localhost', which resolves to a loopback address" in lines[3]
    assert "link-local address 169.254.169.254" in lines[5]
    assert "no such file or folder" in lines[6] and "no supported files" in lines[7]
    assert "not a zip file" in lines[9] and "not a platform data export" in lines[10]
    assert heavy(imported) == []
    assert not (twin_home / "index").exists()


def test_a_refused_input_does_not_stop_the_others(twin_home: Path, tmp_path: Path) -> None:
    post = tmp_path / "post.md"
    post.write_text("# On small tools\n\nI like tools that do one thing well.\n")
    done, _ = run_cli(twin_home, "ingest", "ftp://example.com/x", str(post), "--json")
    assert done.returncode == 1, done.stderr
    assert '"error": "ftp://example.com/x: unsupported scheme' in done.stdout
    assert '"new": 1' in done.stdout
    sources, imported = run_cli(twin_home, "sources")
    assert post.resolve().as_uri() in sources.stdout
    assert heavy(imported) == []
    # Forgetting it opens neither the index nor a model (the index drops its chunks when
    # it next opens: tests/reliability/test_healing.py).
    forgot, imported = run_cli(twin_home, "forget", post.resolve().as_uri())
    assert forgot.returncode == 0, forgot.stderr
    assert f"forgot {post.resolve().as_uri()}: 1 document removed (searches" in forgot.stdout
    assert heavy(imported) == []
