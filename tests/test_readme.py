"""The README reads in the order a newcomer needs it (issue 19): what LLM Twin is, a
screenshot of the web page, the two commands, then the rest; one way to call the CLI;
nothing that points outside the repository."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _before_first_section() -> str:
    return README.split("\n## ", 1)[0]


def test_it_opens_with_what_it_is_then_the_two_commands() -> None:
    opening = _before_first_section()
    says_what, _, rest = opening.partition("```sh")
    assert "self-hosted" in says_what and "writes like you" in says_what
    commands = rest.split("```", 1)[0]
    assert [line.split()[:2] for line in commands.strip().splitlines()] == [
        ["make", "serve"],
        ["make", "test"],
    ]


def test_the_screenshot_is_in_the_repository() -> None:
    shots = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", _before_first_section())
    assert shots, "the opening shows the web page"
    for shot in shots:
        assert (ROOT / shot).is_file(), shot


def test_one_way_to_call_the_cli() -> None:
    assert ".venv/bin/llm-twin" not in README
    assert "source .venv/bin/activate" in README  # said once, before the first command


def test_nothing_points_outside_the_repository() -> None:
    assert "../" not in README
    for target in re.findall(r"\]\(([^)#]+)\)", README):
        if not re.match(r"[a-z]+://", target):
            assert (ROOT / target).exists(), target
