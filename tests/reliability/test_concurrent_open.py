"""Two processes opening a new home at the same moment (a CLI ingest beside a bot's first
link-drop): every store they open (the index, the warehouse schema and its migrations,
the drafts, registry and digest tables, the scheduler's tables and lease, a run folder,
a dataset) is created once and both go on, on SQLite and on PostgreSQL.

The children import everything first and then wait on stdin; the parent hands both the
same new home in one go, so they race on it within a millisecond or two. Before the
fixes, 20 of 40 such opens failed (`Table 'chunks' already exists`, an index without its
manifest, `database is locked` creating APScheduler's table)."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.config import load_config
from bot.twin import Twin
from tests.reliability.consistency import assert_consistent, fault
from tests.reliability.stores import schema_url

ROUNDS = 25
# Real processes and the real embedder: the slow lane (tests/conftest.py).
pytestmark = pytest.mark.slow


class Opener:
    """One child process of tests/reliability/open_stores.py."""

    def __init__(self, log: Path) -> None:
        self.log = log
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.reliability.open_stores"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log.open("w"),
            text=True,
        )
        assert self.answer() == "ready"

    def send(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def answer(self) -> str:
        assert self.process.stdout is not None
        return self.process.stdout.readline().strip()

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(timeout=60)


@pytest.fixture
def openers(tmp_path: Path) -> Iterator[list[Opener]]:
    pair = [Opener(tmp_path / f"opener-{n}.log") for n in range(2)]
    try:
        yield pair
    finally:
        for opener in pair:
            opener.close()


def race(openers: list[Opener], homes: list[tuple[Path, str]]) -> list[str]:
    """Each home to both children at once; the answers that are not "ok"."""
    failures = []
    for home, url in homes:
        for opener in openers:  # both lines are written before either child is read
            opener.send(f"{home} {url}".strip())
        failures += [a for a in (o.answer() for o in openers) if not a.startswith("ok ")]
    return failures


def test_two_processes_open_a_new_home_together_on_sqlite(
    openers: list[Opener], tmp_path: Path
) -> None:
    homes = [(tmp_path / f"home-{n}", "") for n in range(ROUNDS)]
    assert race(openers, homes) == []
    for home, _ in homes:  # one table, one manifest, one dataset folder each
        assert (home / "index" / "manifest.json").is_file()
        assert len(list((home / "datasets").glob("*/stats.json"))) == 1
        assert not list((home / "datasets").glob(".*.partial"))


@pytest.mark.postgres
def test_two_processes_open_a_new_home_together_on_postgres(
    openers: list[Opener], tmp_path: Path, postgres_admin_url: str
) -> None:
    homes = []
    with schema_url(postgres_admin_url, count=ROUNDS) as urls:
        homes = [(tmp_path / f"home-{n}", url) for n, url in enumerate(urls)]
        assert race(openers, homes) == []
    assert all((home / "index" / "manifest.json").is_file() for home, _ in homes)


def test_the_opener_reports_a_failure_as_one_line(openers: list[Opener], tmp_path: Path) -> None:
    """The harness itself: a home that cannot be opened is reported, not hung on."""
    blocker = tmp_path / f"file-{uuid.uuid4().hex}"
    blocker.write_text("not a folder")
    [answer] = race(openers[:1], [(blocker / "home", "")])
    assert answer.startswith(f"error {blocker / 'home'}: ")


TIL = Path(__file__).resolve().parents[1] / "fixtures" / "simonw_til"


def test_two_cli_ingests_on_a_new_home_both_store_everything(tmp_path: Path) -> None:
    """The issue's case: two `llm-twin ingest` runs started together on an empty home
    (before: one died with `Table 'chunks' already exists` and stored nothing)."""
    notes = sorted(TIL.glob("*.md"))[:16]
    halves = [tmp_path / "a", tmp_path / "b"]
    for n, note in enumerate(notes):
        halves[n % 2].mkdir(exist_ok=True)
        (halves[n % 2] / note.name).write_bytes(note.read_bytes())
    for round_ in range(2):
        home = tmp_path / f"home-{round_}"
        env = {**os.environ, "TWIN_HOME": str(home), "TWIN_LOCAL": "1"}
        runs = [
            subprocess.Popen(
                [sys.executable, "-m", "bot", "ingest", str(half)],
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                env=env,
            )
            for half in halves
        ]
        for process in runs:
            output, _ = process.communicate(timeout=300)
            assert process.returncode == 0, output
            assert "Traceback" not in output
        twin = Twin(load_config(home=home, env={}))
        try:
            stored = {d.id for d in twin.warehouse.iter_documents()}
            assert len(stored) == len(notes) and twin.index.document_ids() == stored
        finally:
            twin.close()
        checked = assert_consistent(home, label=fault(f"two writers on a new home ({round_ + 1})"))
        assert checked.documents == len(notes)
