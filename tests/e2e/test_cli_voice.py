"""`llm-twin draft` names what a draft drew on by role: material under "Sources:", the
owner's own pieces under "Voice examples:", and each source's role in `--json`."""

from __future__ import annotations

import json

import pytest

from tests.e2e.test_cli_draft import SAMPLE, run

pytestmark = pytest.mark.slow

LINKEDIN = {"Ship the small model first", "SQLite is enough (until it is not)"}
# Two passages of material leave the sample's LinkedIn posts free to be voice examples.
FEW = ("--set", "drafting.k=2")


@pytest.fixture
def ingested() -> None:
    code, output = run("ingest", str(SAMPLE))
    assert code == 0, output


def test_json_sources_carry_their_role(ingested: None) -> None:
    code, output = run(*FEW, "draft", "Why try retrieval before fine-tuning?", "--json")
    assert code == 0, output
    result = json.loads(output[output.index("{") :])
    roles = {s["title"]: s["role"] for s in result["sources"]}
    assert roles["Retrieval before fine-tuning"] == "material"
    voice = {title for title, role in roles.items() if role == "voice"}
    assert voice and voice <= LINKEDIN  # a LinkedIn draft: the owner's LinkedIn posts
    assert set(roles.values()) == {"material", "voice"}


def test_the_footer_lists_sources_then_voice_examples(ingested: None) -> None:
    code, output = run(*FEW, "draft", "Why try retrieval before fine-tuning?")
    assert code == 0, output
    _, _, footer = output.partition("\nSources:\n")
    material, _, voice = footer.partition("\nVoice examples:\n")
    assert "  - Retrieval before fine-tuning <file://" in material
    shown = [line for line in voice.splitlines() if line.startswith("  - ")]
    assert shown and all(line.split(" <")[0][4:] in LINKEDIN for line in shown)
