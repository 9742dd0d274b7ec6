"""`llm-twin models pull` and `models available` against a Hugging Face hub emulator on
loopback (tests/model/hub_emulator.py): a GGUF and a whole folder pulled into the HF cache,
an interrupted download resumed by Range, corrupt and short downloads refused, one-line
errors, HF_TOKEN for a gated repo, and no download at all without `models pull`."""

from __future__ import annotations

import errno
import json
import os
import random
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli.main import cli
from core.offline import stay_offline
from tests.model.hub_emulator import Fault, HubEmulator, HubRepo

GGUF = b"GGUF" + random.Random(0).randbytes(2_000_000)
OTHER_GGUF = b"GGUF" + random.Random(1).randbytes(1000)
CONFIG = json.dumps({"model_type": "llama", "hidden_size": 64}).encode()
WEIGHTS = random.Random(2).randbytes(300_000)
FOLDER = {
    "config.json": CONFIG,
    "model.safetensors": WEIGHTS,
    "tokenizer.json": b'{"version": "1.0"}',
    "README.md": b"# tiny\n",
    "pytorch_model.bin": WEIGHTS,  # left out: the safetensors are there
    "original/consolidated.pth": WEIGHTS,  # left out: not the HF weights
    "tiny-q8.gguf": OTHER_GGUF,  # left out: pulled one by one with --file
}
PULLED = ["README.md", "config.json", "model.safetensors", "tokenizer.json"]


@pytest.fixture
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[HubEmulator]:
    """The emulator with a GGUF repo and a model folder; HF_ENDPOINT points at it and
    HF_HOME at a fresh folder; this process stays offline as the project sets it."""
    stay_offline()  # before this process imports huggingface_hub
    from huggingface_hub import constants

    emulator = HubEmulator()
    emulator.add(HubRepo("acme/tiny-GGUF", {"tiny-q4.gguf": GGUF, "tiny-q8.gguf": OTHER_GGUF}))
    emulator.add(HubRepo("acme/tiny-llama", dict(FOLDER), branches={"v1": "1" * 40}))
    emulator.start_in_thread()
    monkeypatch.setenv("HF_ENDPOINT", emulator.endpoint)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    for name in ("HF_HUB_CACHE", "HF_TOKEN", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    # This process's huggingface_hub read its cache folder at import; `available` asks it.
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf" / "hub"))
    try:
        yield emulator
    finally:
        emulator.stop()


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def storage(tmp_path: Path, repo: str) -> Path:
    return tmp_path / "hf" / "hub" / ("models--" + repo.replace("/", "--"))


def pulled_path(output: str) -> Path:
    """The model.path that `models pull` says to set (a path)."""
    (line,) = [line for line in output.splitlines() if line.startswith("  path = ")]
    return Path(json.loads(line.removeprefix("  path = ")))


@pytest.mark.slow
def test_a_gguf_is_pulled_into_the_hf_cache_and_used_by_its_path(
    hub: HubEmulator, tmp_path: Path
) -> None:
    code, output = run("models", "pull", "acme/tiny-GGUF", "--file", "tiny-q4.gguf")
    assert code == 0, output
    assert "pulled acme/tiny-GGUF tiny-q4.gguf: 2.0 MB, 2.0 MB downloaded, sha256 checked" in output
    path = pulled_path(output)
    commit = hub.repos["acme/tiny-GGUF"].commit
    assert path == storage(tmp_path, "acme/tiny-GGUF") / "snapshots" / commit / "tiny-q4.gguf"
    assert path.read_bytes() == GGUF
    assert f"llm-twin --set model.path={path} draft" in output
    assert (storage(tmp_path, "acme/tiny-GGUF") / "refs" / "main").read_text() == commit
    assert [(g.path, g.range, g.status) for g in hub.gets] == [("tiny-q4.gguf", None, 200)]
    # This process never went online: its switch and huggingface_hub's are as they were.
    from huggingface_hub import constants

    assert os.environ["HF_HUB_OFFLINE"] == "1" and constants.HF_HUB_OFFLINE

    from model.hf import resolve_model_source

    source = resolve_model_source(str(path))
    assert (source.location, source.gguf_file) == (str(path.resolve().parent), path.name)

    # Pulling it again fetches nothing.
    code, output = run("models", "pull", "acme/tiny-GGUF", "--file", "tiny-q4.gguf")
    assert code == 0 and "2.0 MB, already here" in output and len(hub.gets) == 1

    code, output = run("--set", f"model.path={path}", "models", "available")
    assert code == 0, output
    assert "* acme/tiny-GGUF tiny-q4.gguf  2.0 MB  (hub cache)" in output
    assert f"    model.path = {json.dumps(str(path))}" in output
    assert "  SmolLM2-135M-Instruct.Q4_1.gguf" in output and "(bundled)" in output


@pytest.mark.slow
def test_a_model_folder_is_pulled_whole_and_resolves_by_repo_id(
    hub: HubEmulator, tmp_path: Path
) -> None:
    code, output = run("models", "pull", "acme/tiny-llama")
    assert code == 0, output
    assert "pulled acme/tiny-llama (4 files)" in output and "git-sha1/sha256 checked" in output
    assert "llm-twin --set model.path=acme/tiny-llama draft" in output
    assert '  path = "acme/tiny-llama"' in output
    assert sorted(g.path for g in hub.gets) == PULLED

    # The hf backend's offline lookup of a hub id finds every file in the cache.
    from huggingface_hub import try_to_load_from_cache

    cache = tmp_path / "hf" / "hub"
    for name in ("config.json", "model.safetensors", "tokenizer.json"):
        found = try_to_load_from_cache("acme/tiny-llama", name, cache_dir=cache)
        assert isinstance(found, str) and Path(found).read_bytes() == FOLDER[name]

    code, output = run("--set", "model.path=acme/tiny-llama", "models", "available", "--json")
    listed = {m["name"]: m for m in json.loads(output)}
    entry = listed["acme/tiny-llama"]
    assert entry["configured"] and entry["setting"] == "acme/tiny-llama"
    assert entry["size"] == sum(len(FOLDER[name]) for name in PULLED)
    assert not listed["SmolLM2-135M-Instruct.Q4_1.gguf"]["configured"]

    # Another branch: named by its snapshot folder, since `model.path = REPO` means main.
    code, output = run("models", "pull", "acme/tiny-llama", "--revision", "v1")
    assert code == 0, output
    folder = storage(tmp_path, "acme/tiny-llama") / "snapshots" / ("1" * 40)
    assert pulled_path(output) == folder and (folder / "config.json").read_bytes() == CONFIG
    assert (storage(tmp_path, "acme/tiny-llama") / "refs" / "v1").read_text() == "1" * 40


@pytest.mark.slow
def test_an_interrupted_download_resumes_where_it_stopped(hub: HubEmulator, tmp_path: Path) -> None:
    # The connection drops after 11 MB; huggingface_hub's own retry meets a 503. It writes
    # what it reads in 10 MiB chunks, so 10 MiB are kept.
    big = b"GGUF" + random.Random(3).randbytes(12_000_000)
    hub.add(HubRepo("acme/big-GGUF", {"big.gguf": big}))
    hub.faults["big.gguf"] = Fault(cut_after=11_000_000, fail_gets=1)
    code, output = run("models", "pull", "acme/big-GGUF", "--file", "big.gguf")
    assert code == 2
    assert output == (
        f"error: acme/big-GGUF: {hub.endpoint} answered 503; run the same command again to resume\n"
    )
    kept = 10 << 20
    code, output = run("models", "available")
    assert "  acme/big-GGUF  10.5 MB  (partial download)" in output

    code, output = run("models", "pull", "acme/big-GGUF", "--file", "big.gguf")
    assert code == 0, output
    assert "12.0 MB, 1.5 MB downloaded, sha256 checked" in output
    assert [(g.range, g.status, g.sent) for g in hub.gets] == [
        (None, 200, 11_000_000),
        (f"bytes={kept}-", 503, 0),
        (f"bytes={kept}-", 206, len(big) - kept),
    ]
    assert pulled_path(output).read_bytes() == big
    assert list((storage(tmp_path, "acme/big-GGUF") / "blobs").glob("*.incomplete")) == []


@pytest.mark.slow
def test_a_corrupt_download_is_refused_and_removed(hub: HubEmulator, tmp_path: Path) -> None:
    hub.faults["tiny-q4.gguf"] = Fault(corrupt=True)
    code, output = run("models", "pull", "acme/tiny-GGUF", "--file", "tiny-q4.gguf")
    assert code == 2 and output.count("\n") == 1
    assert output.startswith("error: acme/tiny-GGUF tiny-q4.gguf failed its sha256 check (got ")
    assert output.endswith("the corrupt download was removed: run the same command again\n")
    blobs = storage(tmp_path, "acme/tiny-GGUF") / "blobs"
    assert list(blobs.iterdir()) == []
    assert "tiny-q4" not in run("models", "available")[1]

    hub.faults.clear()
    code, output = run("models", "pull", "acme/tiny-GGUF", "--file", "tiny-q4.gguf")
    assert code == 0 and pulled_path(output).read_bytes() == GGUF
    assert [g.range for g in hub.gets] == [None, None]  # started over


@pytest.mark.slow
def test_a_short_download_is_an_error_and_the_next_pull_fetches_the_rest(
    hub: HubEmulator,
) -> None:
    hub.faults["tiny-q4.gguf"] = Fault(short_by=1000)
    code, output = run("models", "pull", "acme/tiny-GGUF", "--file", "tiny-q4.gguf")
    size = len(GGUF)
    assert (code, output) == (
        2,
        f"error: acme/tiny-GGUF tiny-q4.gguf: the download was cut short ({size - 1000} of "
        f"{size} bytes, kept): run the same command again to resume\n",
    )
    hub.faults.clear()
    code, output = run("models", "pull", "acme/tiny-GGUF", "--file", "tiny-q4.gguf")
    assert code == 0, output
    assert [(g.range, g.sent) for g in hub.gets][-1] == (f"bytes={size - 1000}-", 1000)
    assert pulled_path(output).read_bytes() == GGUF


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["acme/nope"],
            "acme/nope: no such model on {endpoint} (a private one needs HF_TOKEN); check the "
            "name as the hub page shows it, OWNER/NAME",
        ),
        (
            ["acme/tiny-GGUF", "--file", "tiny-q5.gguf"],
            "acme/tiny-GGUF has no file tiny-q5.gguf; its .gguf files: tiny-q4.gguf, tiny-q8.gguf",
        ),
        (
            ["acme/tiny-GGUF"],
            "acme/tiny-GGUF is a repo of GGUF files; pick one with --file: tiny-q4.gguf, "
            "tiny-q8.gguf",
        ),
        (
            ["acme/tiny-llama", "--revision", "v9"],
            "acme/tiny-llama has no revision v9; give a branch, tag or commit it has",
        ),
    ],
    ids=["unknown repo", "unknown file", "gguf repo without --file", "unknown revision"],
)
def test_what_cannot_be_pulled_is_one_line(hub: HubEmulator, args: list[str], message: str) -> None:
    code, output = run("models", "pull", *args)
    assert (code, output) == (2, f"error: {message.format(endpoint=hub.endpoint)}\n")
    assert hub.gets == []


@pytest.mark.slow
def test_a_gated_repo_needs_hf_token(hub: HubEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    hub.add(HubRepo("acme/gated", {"g.gguf": GGUF}, gated=True))
    code, output = run("models", "pull", "acme/gated", "--file", "g.gguf")
    assert (code, output) == (
        2,
        f"error: acme/gated is gated: accept its terms at {hub.endpoint}/acme/gated and set "
        "HF_TOKEN to a read token of that account\n",
    )
    monkeypatch.setenv("HF_TOKEN", hub.token)
    code, output = run("models", "pull", "acme/gated", "--file", "g.gguf")
    assert code == 0, output
    assert [(g.path, g.authorized) for g in hub.gets] == [("g.gguf", True)]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_an_unreachable_hub_is_one_line(hub: HubEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    endpoint = f"http://127.0.0.1:{closed_port()}"
    monkeypatch.setenv("HF_ENDPOINT", endpoint)
    code, output = run("models", "pull", "acme/tiny-GGUF", "--file", "tiny-q4.gguf")
    assert (code, output) == (
        2,
        f"error: cannot reach {endpoint} to pull acme/tiny-GGUF (ConnectError): check the "
        "network (and HF_ENDPOINT if set); run the same command again to resume\n",
    )


def test_a_full_disk_is_one_line(hub: HubEmulator, tmp_path: Path) -> None:
    from model.hub_download import PullError, _ensure_space, describe

    full = OSError(errno.ENOSPC, "No space left on device")
    assert describe(full, "acme/x", None) == (
        f"the disk filled up pulling acme/x into {tmp_path / 'hf' / 'hub'}: free some space "
        "or set HF_HOME to a bigger disk, then run the same command again to resume"
    )
    with pytest.raises(PullError, match=r"^not enough disk space for acme/x big.gguf: it needs"):
        _ensure_space("acme/x", "big.gguf", tmp_path, 1 << 60)


def test_the_models_group_keeps_its_commands() -> None:
    code, output = run("models", "--help")
    assert code == 0
    for command in ("list", "activate", "pull", "available"):
        assert f"  {command} " in output


@pytest.mark.slow
def test_nothing_is_downloaded_without_models_pull(hub: HubEmulator, tmp_path: Path) -> None:
    """The hf backend given an uncached hub id fails offline, even with HF_ENDPOINT set and
    HF_HUB_OFFLINE unset: only `models pull` reaches the hub."""
    env = {k: v for k, v in os.environ.items() if k != "HF_HUB_OFFLINE"}
    load = (
        "from model.hf import HfGenerator, resolve_model_source\n"
        "try:\n"
        "    HfGenerator(resolve_model_source('acme/tiny-llama'))\n"
        "except Exception as exc:\n"
        "    print(type(exc).__name__, exc)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", load], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.stdout.startswith("ConfigError cannot load the model acme/tiny-llama"), done
    assert "nothing is downloaded at run time" in done.stdout
    assert hub.requests == []
