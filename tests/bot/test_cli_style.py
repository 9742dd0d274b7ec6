"""`llm-twin style` in-process through the real CLI over a real SQLite warehouse in a temp
TWIN_HOME: the readable profile, `--platform`, `--json`, too little writing, bad input;
and, in a child process, that it never imports torch or the embedder."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from bot.cli.main import cli
from bot.config import load_config
from bot.twin import Twin
from tests.model.test_style import LINKEDIN, TIL
from tests.model.test_style_store import post, store

OWNER = ("--set", "owner.name=Sam Rivera")


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, [*OWNER, *args], catch_exceptions=False)
    return result.exit_code, result.output


def fill(*texts_by_platform: tuple[str, list[str]]) -> None:
    twin = Twin(load_config({"owner.name": "Sam Rivera"}))
    try:
        n = 0
        for platform, texts in texts_by_platform:
            for text in texts:
                n += 1
                store(twin, post(n, text, platform=platform))
    finally:
        twin.close()


def test_style_shows_the_guidance_and_the_numbers(twin_home: Path) -> None:
    fill(("linkedin", LINKEDIN), ("github", TIL[:8]))
    code, output = run("style")
    assert code == 0, output
    assert output.startswith(
        "Your style, measured from 14 documents of your own writing (github 8, linkedin 6)"
    )
    overall, _, rest = output.partition("\nlinkedin (6 documents):\n")
    assert "\nAll your writing (14 documents):\n  - length: " in overall
    assert "\ngithub (8 documents):\n" in overall and "  - no emoji\n" in overall
    assert "  - opens with a one-line question (6 of 6)\n" in rest
    assert "  - signs off with 'Thoughts?' (5 of 6)\n" in rest
    assert "  - hashtags: about 2 per post, e.g. #ai #evals\n" in rest
    numbers = rest.partition("\nThe numbers (all your writing):\n")[2]
    assert "  openings:      one-line hook " in numbers
    assert "  signature words:   " in numbers


def test_style_for_one_platform_and_as_json(twin_home: Path) -> None:
    fill(("linkedin", LINKEDIN), ("github", TIL[:8]))
    code, output = run("style", "--platform", "LinkedIn")
    assert code == 0, output
    assert "\nlinkedin (6 documents):\n" in output and "github (8" not in output
    assert "  closings:      question 100%; sign-offs: 'Thoughts?' (5)" in output

    code, output = run("style", "--platform", "linkedin", "--json")
    assert code == 0, output
    data = json.loads(output)
    assert data["platform"] == "linkedin" and data["documents"] == 14
    assert data["stats"]["sign_offs"] == [{"text": "Thoughts?", "documents": 5}]
    assert "signs off with 'Thoughts?' (5 of 6)" in data["guidance"]

    code, output = run("style", "--json")
    assert code == 0, output
    data = json.loads(output)
    assert set(data["platforms"]) == {"github", "linkedin"}
    assert "no hashtags" in data["guidance"]["github"]
    assert data["overall"]["documents"] == 14


def test_too_little_writing_is_said_and_nothing_is_described(twin_home: Path) -> None:
    fill(("linkedin", LINKEDIN[:2]))
    code, output = run("style")
    assert code == 0, output
    assert output.splitlines()[1:] == [
        "",
        "All your writing (2 documents):",
        "  - not enough of your writing to describe your style: 2 documents, at least 5 "
        "are needed (add more of your own posts)",
    ]  # one platform: not shown twice


def test_bad_platform_and_missing_names_say_what_to_do(twin_home: Path) -> None:
    fill(("linkedin", LINKEDIN))
    result = CliRunner().invoke(cli, [*OWNER, "style", "--platform", "myspace"])
    assert result.exit_code == 2
    assert result.output == (
        "error: --platform myspace: none of your writing is from that platform; yours is "
        "from linkedin\n"
    )
    result = CliRunner().invoke(cli, ["style"])
    assert result.exit_code == 0
    assert result.output.startswith("set owner.name (or owner.names")


def test_style_never_imports_torch_or_the_embedder(twin_home: Path) -> None:
    fill(("linkedin", LINKEDIN))
    script = (
        "import sys\n"
        "from bot.cli.main import cli\n"
        "try:\n"
        "    cli(['--set', 'owner.name=Sam Rivera', 'style'], prog_name='llm-twin')\n"
        "except SystemExit as done:\n"
        "    assert not done.code, done.code\n"
        "heavy = {'torch', 'sentence_transformers', 'transformers', 'lancedb'} & set(sys.modules)\n"
        "print('heavy:', sorted(heavy))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "signs off with 'Thoughts?' (5 of 6)" in done.stdout
    assert done.stdout.rstrip().endswith("heavy: []")
