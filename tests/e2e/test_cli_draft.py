"""`llm-twin draft` through the real CLI: the default SmolLM2 model on CPU over the ingested
sample, the `openai` backend against the emulator, and every bad input the issue names."""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli.main import cli
from tests.http_server import ThreadedServer
from tests.model.openai_emulator import OpenAIEmulator, emulator_thread

pytestmark = pytest.mark.slow

SAMPLE = Path(__file__).resolve().parents[2] / "sample"
SHORT = [
    "--set",
    "ingest.allowed_networks=127.0.0.1/32",
    "--set",
    "ingest.retries=0",
    "--set",
    "drafting.max_new_tokens=16",
    "--set",
    "drafting.temperature=0",
    "--set",
    "owner.name=Sam Rivera",
]


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, [*SHORT, *args], catch_exceptions=False)
    return result.exit_code, result.output


def cuda_visible() -> bool:
    import torch

    return bool(torch.cuda.is_available())


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def ingested() -> None:
    code, output = run("ingest", str(SAMPLE))
    assert code == 0, output


@pytest.fixture
def emulator() -> Iterator[OpenAIEmulator]:
    """The OpenAI-compatible emulator on its own loop and thread (the CLI runs its own)."""
    with emulator_thread(("sam-twin",)) as server:
        yield server


def test_draft_json_has_text_sources_model_and_timings(ingested: None) -> None:
    code, output = run("draft", "Why try retrieval before fine-tuning?", "--json")
    assert code == 0, output
    result = json.loads(output[output.index("{") :])
    assert result["text"] and result["format"] == "linkedin"
    assert result["sources"][0] == {
        "url": (SAMPLE / "02-retrieval-before-finetuning.md").resolve().as_uri(),
        "title": "Retrieval before fine-tuning",
        "role": "material",
    }
    assert result["model"]["backend"] == "llamacpp"  # the default for a GGUF (make builds it)
    assert result["model"]["id"].endswith("SmolLM2-135M-Instruct.Q4_1.gguf")
    assert result["timings"]["completion_tokens"] <= 16
    assert {"retrieval_ms", "time_to_first_token_s", "tokens_per_second", "total_s"} <= set(
        result["timings"]
    )


def draft_lines(text: str) -> list[str]:
    """The draft's lines in what the CLI printed (stderr's notes are mixed in)."""
    return [line for line in text.splitlines() if line.strip() and not line.startswith("note:")]


def numbered_thread(lines: list[str]) -> None:
    numbers = [int(m.group(1)) for line in lines if (m := re.match(r"(\d+)/ ", line))]
    assert lines[0].startswith("1/ ") and numbers == list(range(1, len(numbers) + 1)), lines


def test_draft_streams_text_then_lists_sources(ingested: None) -> None:
    code, output = run("draft", "lessons from being on call", "--format", "thread")
    assert code == 0, output
    text, _, footer = output.partition("\nSources:\n")
    # not a terminal: only the final draft, shaped (numbered posts), is printed
    assert "── final draft" not in text
    numbered_thread(draft_lines(text))
    assert "  - What on-call taught me about writing <file://" in footer
    assert "tokens/s" in footer  # the stats line (stderr, mixed in by the runner)


def test_on_a_terminal_the_stream_is_followed_by_the_shaped_thread(
    ingested: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("bot.cli.draft._streams_live", lambda: True)
    code, output = run("draft", "lessons from being on call", "--format", "thread")
    assert code == 0, output
    streamed, line, final = output.partition("\n\n── final draft, shaped for thread ──\n\n")
    assert line, output  # SmolLM2 never numbers a thread itself, so shaping changed it
    assert draft_lines(streamed) and not draft_lines(streamed)[0].startswith("1/ ")
    text = final.partition("\nSources:\n")[0]
    numbered_thread(draft_lines(text))
    assert "note: cut back to the last whole sentence" in output


def test_an_unreachable_link_still_gives_a_draft_with_a_note(ingested: None) -> None:
    dead = f"http://127.0.0.1:{closed_port()}/post"
    code, output = run("draft", "my take on GPU budgets", "--link", dead, "--json")
    assert code == 0, output
    assert f"note: could not read {dead}" in output
    result = json.loads(output[output.index("{\n") :])
    assert result["text"] and any("written without it" in n for n in result["notes"])


def test_a_shared_link_becomes_a_source(ingested: None, threaded_server: ThreadedServer) -> None:
    url = threaded_server.fixture_page("lemire.me.json.html")
    code, output = run("draft", f"React to {url}", "--format", "answer", "--json")
    assert code == 0, output
    result = json.loads(output[output.index("{\n") :])
    assert url in [s["url"] for s in result["sources"]]


def test_the_openai_backend_is_chosen_from_config(emulator: OpenAIEmulator) -> None:
    code, output = run(
        "--set",
        "model.backend=openai",
        "--set",
        f"model.url={emulator.url}",
        "draft",
        "hello there",
        "--json",
    )
    assert code == 0, output
    result = json.loads(output[output.index("{\n") :])
    assert result["text"] == "Hello, world."
    assert result["model"] == {
        "name": "sam-twin (served over the OpenAI API), version emulator",
        "backend": "openai",
        "id": "sam-twin",
        "version": "emulator",
    }
    sent = emulator.requests[-1]
    assert sent["model"] == "sam-twin" and sent["stream"] is True
    assert "You write as Sam Rivera" in sent["messages"][0]["content"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["draft", "  "], "error: prompt: is empty; say what to write about"),
        (["draft", "x", "--format", "sonnet"], "Invalid value for '--format'"),
        pytest.param(
            ["--set", "model.backend=exl2", "--set", "model.path=/models/x", "draft", "x"],
            'needs a CUDA GPU and none is visible; on this machine set model.backend = "hf"',
            marks=pytest.mark.skipif(cuda_visible(), reason="checks the no-GPU message"),
        ),
        (["--set", "model.backend=openai", "draft", "x"], "model.url must be set"),
        (
            ["--set", "model.path=/no/such/model.gguf", "draft", "x"],
            "model.path /no/such/model.gguf does not exist",
        ),
        (["--set", "model.backend=llamafile", "draft", "x"], "model.backend must be one of"),
    ],
)
def test_bad_drafting_input_is_one_clear_line(args: list[str], message: str) -> None:
    code, output = run(*args)
    assert code == 2, output
    assert message in output
    assert "Traceback" not in output


def test_a_model_server_that_is_down_is_named_with_the_fix() -> None:
    url = f"http://127.0.0.1:{closed_port()}/v1"
    code, output = run("--set", "model.backend=openai", "--set", f"model.url={url}", "draft", "x")
    assert code == 2, output
    assert f"cannot reach the model server at {url}" in output
    assert "start it or fix model.url" in output


def test_a_prompt_longer_than_the_context_is_refused(ingested: None) -> None:
    code, output = run("--set", "model.max_seq_len=256", "draft", "retrieval " * 400)
    assert code == 2, output
    assert "error: prompt: is too long" in output and "context of 256 tokens" in output


def test_the_hf_backend_prints_no_progress_bars_unless_verbose(ingested: None) -> None:
    """transformers' "Loading weights" bar is noise on every draft: only -v shows it."""
    code, output = run("--set", "model.backend=hf", "draft", "why retrieval first")
    assert code == 0, output
    assert "Loading weights" not in output and "tokens/s" in output
    code, output = run("-v", "--set", "model.backend=hf", "draft", "why retrieval first")
    assert code == 0, output
    assert "Loading weights" in output
