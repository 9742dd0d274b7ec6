"""The command line uses a running bot: with `serve` up on the same TWIN_HOME, `search`,
`draft`, `ingest`, `recrawl` and `forget` run in the bot (the command's own process imports no index
and no model), print exactly what the same command prints working alone, and fall back to
working alone when no bot answers or the bot runs with other settings.

The commands run as real child processes against a real `serve` (the bundled SmolLM2 on
llama.cpp, greedy, short drafts) in this process; what each child imported is read from
`python -X importtime`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.running import FILE
from model.naming import DEMO_NOTE
from tests.chat_support import SHORT_DRAFTS
from tests.serve_support import Running, running_serve

SAMPLE = Path(__file__).resolve().parents[2] / "sample"
# Small prompts keep a CPU draft short; the bot and the command resolve the same settings.
SETTINGS = {
    **SHORT_DRAFTS,
    "drafting.k": "2",
    "drafting.context_tokens": "300",
    "drafting.voice_tokens": "200",
    "schedules.enabled": "false",
}
# The command's own process opens neither the index nor a model when the bot does the work.
WORK_HERE = ("lancedb", "llama_cpp", "torch", "sentence_transformers")
PROMPT = "Why retrieval comes before fine-tuning"


def cli(*args: str, settings: dict[str, str] = SETTINGS) -> tuple[str, str, set[str], int]:
    """`llm-twin ARGS` in a child process: stdout, stderr, the modules it imported, the
    exit status."""
    flags = [arg for key, value in settings.items() for arg in ("--set", f"{key}={value}")]
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "bot", "-v", *flags, *args],
        capture_output=True,
        text=True,
        env={k: v for k, v in os.environ.items() if k != "TWIN_LOCAL"},
        timeout=600,
    )
    lines = done.stderr.splitlines()
    imported = {ln.rsplit("|", 1)[-1].strip() for ln in lines if ln.startswith("import time:")}
    stderr = "\n".join(ln for ln in lines if not ln.startswith("import time:"))
    return done.stdout, stderr, imported, done.returncode


def worked_here(imported: set[str]) -> bool:
    return any(name.split(".")[0] in WORK_HERE for name in imported)


@pytest.fixture
def ingested(twin_home: Path) -> Path:
    _, err, _, code = cli("--local", "ingest", str(SAMPLE))
    assert code == 0, err
    return twin_home


@pytest.fixture
def bot(ingested: Path) -> Iterator[Running]:
    with running_serve(None, SETTINGS) as running:
        yield running


def test_through_the_bot_the_output_is_the_same(ingested: Path) -> None:
    commands = [
        ("search", "should I fine-tune or use retrieval?"),
        ("search", "SQLite backups", "--json", "--k", "3", "--platform", "substack"),
        ("draft", PROMPT),
        ("draft", PROMPT, "--format", "thread", "--json"),
        ("ingest", str(SAMPLE)),
        ("recrawl",),
    ]
    alone = [cli("--local", *command) for command in commands]
    for _, err, imported, code in alone:
        assert code == 0 and worked_here(imported), err
    with running_serve(None, SETTINGS):
        assert (ingested / FILE).exists()
        through = [cli(*command) for command in commands]
    assert not (ingested / FILE).exists()  # taken down when the bot stopped
    for command, (out, err, imported, code), (alone_out, _, _, _) in zip(
        commands, through, alone, strict=True
    ):
        assert code == 0, err
        assert "sending the command to the bot" in err and not worked_here(imported), command
        if "--json" in command and command[0] == "draft":
            mine, theirs = json.loads(out), json.loads(alone_out)
            assert mine.pop("id") != theirs.pop("id")  # two drafts, each recorded
            for record in (mine, theirs):
                record.pop("timings")
                # Said once per process: by the bot's first draft, by each lone command.
                record["notes"] = [n for n in record["notes"] if n != DEMO_NOTE]
            assert mine == theirs
        else:
            assert out == alone_out, command


def test_the_bot_ingests_and_its_index_is_the_one_on_disk(bot: Running, tmp_path: Path) -> None:
    post = tmp_path / "hiring.md"
    post.write_text("# Hiring slowly\n\nI hire slowly and fire never; references over riddles.\n")
    out, err, imported, code = cli("ingest", str(post), "ftp://example.com/x")
    assert code == 1 and not worked_here(imported), err
    assert f"✓ {post.resolve().as_uri()}: 1 new document, 1 chunk indexed" in out
    assert "✗ ftp://example.com/x: unsupported scheme 'ftp:'" in out  # refused here, first
    out, err, imported, _ = cli("search", "references over riddles", "--json")
    assert json.loads(out)[0]["title"] == "Hiring slowly" and not worked_here(imported)
    out, _, imported, _ = cli("--local", "search", "references over riddles", "--json")
    assert json.loads(out)[0]["title"] == "Hiring slowly" and worked_here(imported)
    # Forgetting it goes through the bot too: the index keeps one writer.
    out, err, imported, code = cli("forget", post.resolve().as_uri())
    assert code == 0 and not worked_here(imported) and "sending" in err, err
    assert out.startswith(f"forgot {post.resolve().as_uri()}: 1 ")
    out, _, _, _ = cli("--local", "search", "references over riddles", "--json")
    assert all(hit["title"] != "Hiring slowly" for hit in json.loads(out))


def test_without_a_bot_or_with_other_settings_the_work_is_done_here(
    bot: Running, ingested: Path
) -> None:
    # Other settings than the bot's: it answers 409 and the command works alone, as told.
    out, err, imported, code = cli(
        "search", "retrieval", "--json", settings={**SETTINGS, "search.k": "2"}
    )
    assert code == 0 and worked_here(imported) and "other settings" in err, err
    assert len(json.loads(out)) == 2
    # A bad request is the command's error, said once, whichever process refuses it.
    out, err, _, code = cli("search", "   ")
    assert code == 2 and "error: '   ': empty query" in err, err
    # A bot that is gone (killed hard: its file stays behind) is not waited for.
    announced = json.loads((ingested / FILE).read_text())
    (ingested / FILE).write_text(json.dumps({**announced, "pid": 2**22 + 17}))
    out, err, imported, code = cli("search", "retrieval")
    assert code == 0 and worked_here(imported) and "sending" not in err, err
