"""`llm-twin reindex --to BACKEND`: the warehouse fills another backend's index, and
switching `index.backend` back and forth loses nothing. With no Weaviate server here,
the Weaviate leg checks the server-down path; with TWIN_WEAVIATE_URL it runs for real."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli.main import cli
from tests.chat_support import SAMPLE


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def hits(*settings: str) -> list[str]:
    code, output = run(*settings, "search", "retrieval before fine-tuning", "--json")
    assert code == 0, output
    return [h["url"] for h in json.loads(output)]


def test_a_weaviate_server_down_is_named_and_the_lance_index_is_untouched(
    twin_home: Path,
) -> None:
    assert run("ingest", str(SAMPLE))[0] == 0
    before = hits()
    url = f"http://127.0.0.1:{closed_port()}"
    code, output = run("--set", f"index.weaviate_url={url}", "reindex", "--to", "weaviate")
    assert code == 2 and url in output and "\n" not in output.strip()
    assert hits() == before  # the embedded index still answers, unchanged

    code, output = run("reindex", "--to", "lance")
    assert code == 0 and output.startswith("reindexed ") and "(lance)" in output
    assert hits() == before


@pytest.mark.weaviate
def test_switching_to_weaviate_and_back_loses_nothing(twin_home: Path) -> None:
    url = os.environ.get("TWIN_WEAVIATE_URL")
    if not url:
        pytest.skip("needs TWIN_WEAVIATE_URL (a Weaviate server)")
    weaviate = ["--set", f"index.weaviate_url={url}", "--set", "index.weaviate_collection=TwinCli"]
    assert run("ingest", str(SAMPLE))[0] == 0
    lance = hits()
    code, output = run(*weaviate, "reindex", "--to", "weaviate")
    assert code == 0 and 'index.backend = "weaviate"' in output
    on_weaviate = hits(*weaviate, "--set", "index.backend=weaviate")
    assert set(on_weaviate) == set(lance)
    assert hits() == lance
