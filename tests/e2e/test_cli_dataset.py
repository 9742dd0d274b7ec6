"""`llm-twin dataset build` on the ingested sample, with the real SmolLM2 tokenizer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli.main import cli

pytestmark = pytest.mark.slow

SAMPLE = Path(__file__).resolve().parents[2] / "sample"


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def test_dataset_build_from_the_owners_writing(twin_home: Path) -> None:
    assert run("ingest", str(SAMPLE))[0] == 0
    code, output = run("--set", "owner.names=Sam Rivera", "dataset", "build", "--json")
    assert code == 0, output
    stats = json.loads(output[output.index("{\n") :])
    assert stats["documents_used"] == 6 and stats["excluded"] == {}
    assert stats["train_examples"] + stats["test_examples"] == 6
    assert stats["test_documents"] >= 1
    folder = Path(stats["folder"])
    assert folder.parent == twin_home / "datasets"
    rows = [json.loads(line) for line in (folder / "train.jsonl").read_text().splitlines()]
    sample_texts = [p.read_text() for p in SAMPLE.glob("*.md")]
    for row in rows:
        assert any(row["answer"][:200] in text for text in sample_texts)
        assert row["messages"][1] == {"role": "assistant", "content": row["answer"]}

    code, output = run("--set", "owner.names=Someone Else", "dataset", "build")
    assert code == 2
    assert "error: dataset: none of the 6 documents is by owner.names [Someone Else]" in output
