"""The warehouse a release leaves behind, kept as a fixture its successors must open:
`python -m tests.reliability.release_fixture [--version V] [--force]`.

A home is populated with this checkout's code through the product's own write paths (no
embedder, no model: the warehouse only): the owner's notes from `sample/` and one TIL note
by someone else, a source whose last crawl failed, drafts with ratings, edits and a
comment, a trained run made active and a failed one, two digests, the scheduler's jobs
(one paused), its lease and a job failure. The warehouse is then written as SQL text
(`sqlite3`'s iterdump) to tests/fixtures/releases/<version>/warehouse.sql, checked to load
back row for row. tests/reliability/test_upgrade.py opens every release's fixture under
the current code. At each release, add the new version's folder; never rebuild an old one.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sqlite3
import subprocess
import tempfile
import tomllib
from contextlib import closing
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bot.config import load_config
from bot.schedules.digest_log import DigestLog
from bot.schedules.jobs import job_id
from bot.schedules.service import ScheduleService
from bot.twin import Twin
from ingest.extractors.local import crawl_files, extract_file
from ingest.warehouse.store import Warehouse
from model.records import DraftRecord, DraftStore, SourceRef
from training.registry import Registry

ROOT = Path(__file__).resolve().parents[2]
RELEASES = ROOT / "tests" / "fixtures" / "releases"
DUMP = "warehouse.sql"
SETTINGS = "settings.toml"  # the home's saved settings: the jobs follow them
SAMPLE = ROOT / "sample"
TIL = ROOT / "tests" / "fixtures" / "simonw_til"  # Apache-2.0: see its README and LICENSE
NOTES = "https://notes.example.org/"  # where the owner's sample notes are published
PROFILE = "https://www.linkedin.com/in/sam-rivera/"
GUEST = "https://til.simonwillison.net/django/enabling-gin-index"
DIGEST_TO = "telegram:42"
# The home the runs' folders name: a stable path, not the temporary one this is built in.
OLD_HOME = Path("/home/sam/.twin")

Table = tuple[list[str], list[tuple[Any, ...]]]  # column names, rows in rowid order


def current_version() -> str:
    with (ROOT / "pyproject.toml").open("rb") as file:
        return str(tomllib.load(file)["project"]["version"])


def load(dump: Path, database: Path) -> None:
    """Make the SQLite database `database` from the SQL text `dump`."""
    database.parent.mkdir(parents=True, exist_ok=True)
    with closing(sqlite3.connect(database)) as conn:
        conn.executescript(dump.read_text(encoding="utf-8"))


def load_home(release: Path, home: Path) -> None:
    """`home` as a release's fixture left it: its warehouse and saved settings."""
    load(release / DUMP, home / "warehouse.db")
    if (release / SETTINGS).is_file():
        shutil.copyfile(release / SETTINGS, home / SETTINGS)


def tables(database: Path) -> dict[str, Table]:
    """Every table of an SQLite database: its columns, and its rows as stored."""
    with closing(sqlite3.connect(database)) as conn:
        names = [
            row[0]
            for row in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
                " ORDER BY name"
            )
        ]
        found: dict[str, Table] = {}
        for name in names:
            columns = [row[1] for row in conn.execute(f'PRAGMA table_info("{name}")')]
            rows = conn.execute(f'SELECT * FROM "{name}" ORDER BY rowid').fetchall()
            found[name] = (columns, rows)
    return found


def populate(twin: Twin) -> None:
    """Something in every table of every package, written as the twin writes it."""
    _documents(twin.warehouse)
    drafts = _drafts(twin.drafts)
    _runs(twin.models, OLD_HOME)
    log = DigestLog(twin.warehouse)
    monday = datetime(2026, 1, 26, 9, tzinfo=UTC)
    sent = log.claim(DIGEST_TO, monday)
    assert sent is not None
    log.sent(sent, drafts[0])
    empty = log.claim(DIGEST_TO, monday + timedelta(days=7))
    assert empty is not None
    log.empty(empty)
    asyncio.run(_schedules(twin))


def _documents(warehouse: Warehouse) -> None:
    notes = [
        replace(doc, url=NOTES + doc.url.rsplit("/", 1)[-1].removesuffix(".md"), owned=True)
        for doc in crawl_files(SAMPLE).documents
    ]
    guest = replace(
        extract_file(TIL / "django__enabling-gin-index.md"),
        url=GUEST,
        platform="article",
        author="Simon Willison",
        owned=False,  # someone else's: searched, never trained on
        meta={"via": "a link the owner dropped in chat"},
    )
    with warehouse.transaction() as tx:  # as ingest's writer stores them, then the sources
        for doc in notes:
            tx.upsert_document(doc, source_url=NOTES)
        tx.upsert_document(guest)
    warehouse.add_source(NOTES, "local")
    warehouse.add_source(GUEST, "article")
    warehouse.record_crawl(NOTES, error=None, state={"files": len(notes)}, owner="Sam Rivera")
    warehouse.record_crawl(GUEST, error=None)
    warehouse.add_source(PROFILE, "linkedin")
    warehouse.record_crawl(PROFILE, error="LinkedIn asked to sign in again")


def _drafts(store: DraftStore) -> list[str]:
    sources = (
        SourceRef(NOTES + "04-sqlite-is-enough", "SQLite is enough (until it is not)"),
        SourceRef(NOTES + "05-evals", "Evals", "voice"),
    )
    ids = []
    for n, (prompt, fmt) in enumerate([("why SQLite", "post"), ("evals first", "thread")]):
        draft = store.save(
            DraftRecord(
                prompt, fmt, f"Draft {n}: start with SQLite and a handful of evals.", "stop",
                "llamacpp", "SmolLM2-135M-Instruct", "q8_0", links=(NOTES + "05-evals",),
                chunk_ids=(f"chunk-{n}",), sources=sources, params={"temperature": 0.7},
                timings={"total_s": 1.5}, notes=("cut at 280 characters",),
            )
        )  # fmt: skip
        ids.append(draft.id)
    store.add_feedback(ids[0], user="owner", rating=1)
    store.add_feedback(ids[0], user="owner", edited_text="Start with SQLite. Then write evals.")
    store.add_feedback(ids[1], user="owner", rating=-1, comment="too long")
    return ids


def _runs(models: Registry, home: Path) -> None:
    config = {"epochs": 1, "lora_rank": 8, "learning_rate": 0.0002}
    trained = models.start(
        base_model="HuggingFaceTB/SmolLM2-135M-Instruct", dataset_hash="a" * 64,
        dataset_folder=str(home / "datasets" / "a"), config=config,
    )  # fmt: skip
    folder = home / "runs" / trained.id
    models.set_stage(trained.id, "eval")
    models.add_paths(trained.id, run=str(folder), adapter=str(folder / "adapter"))
    models.add_metrics(trained.id, {"perplexity": 9.5, "style_score": 0.71})
    models.finish(trained.id)
    models.activate(trained.id)
    failed = models.start(
        base_model="HuggingFaceTB/SmolLM2-135M-Instruct", dataset_hash="b" * 64,
        dataset_folder=str(home / "datasets" / "b"), config=config,
        run_id=f"{trained.id}-2",
    )  # fmt: skip
    models.fail(failed.id, "CUDA out of memory")


async def _schedules(twin: Twin) -> None:
    service = ScheduleService(twin)
    service.schedules.open_paused()
    service.schedules.sync([s.url for s in twin.warehouse.list_sources()])
    service.schedules.pause("retrain")
    service.schedules.stop()
    service.state.acquire("pid 4242 on the owner's old machine")
    service.state.failed(job_id("recrawl", PROFILE), "LinkedIn asked to sign in again")


def build(folder: Path) -> dict[str, int]:
    """Write the fixture's warehouse into `folder`; rows per table."""
    with tempfile.TemporaryDirectory(prefix="twin-release-") as work:
        home = Path(work) / "home"
        home.mkdir()
        (home / SETTINGS).write_text(f'[schedules]\ndigest_to = ["{DIGEST_TO}"]\n')
        twin = Twin(load_config(home=home, env={}))
        try:
            populate(twin)
        finally:
            twin.close()
        database = home / "warehouse.db"
        with closing(sqlite3.connect(database)) as conn:
            text = "\n".join(conn.iterdump()) + "\n"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / DUMP).write_text(text, encoding="utf-8")
        shutil.copyfile(home / SETTINGS, folder / SETTINGS)
        loaded = Path(work) / "loaded.db"
        load(folder / DUMP, loaded)
        written = tables(database)
        if tables(loaded) != written:
            raise SystemExit(f"{folder / DUMP} does not load back as it was written")
    return {name: len(rows) for name, (_, rows) in written.items()}


README = """# The warehouse of release {version}

`{dump}`: the SQLite warehouse a home of llm-twin {version} holds (commit {commit}), as
`sqlite3` iterdump text, and `{settings}`, the settings the home was made with; made on
{day} by `python -m tests.reliability.release_fixture` (its docstring says what is in it).
`tests/reliability/test_upgrade.py` opens it under the current code and checks that every
row survives the migrations. Never rebuild or edit it: it stands for the databases owners
of {version} have.

Rows: {rows}.

The documents' text: the notes in `sample/` (this project's), and one note by Simon
Willison from `tests/fixtures/simonw_til` (github.com/simonw/til, Apache-2.0; the licence
is `tests/fixtures/simonw_til/LICENSE`).
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--version", default=current_version(), help="default: pyproject's")
    parser.add_argument("--force", action="store_true", help="replace an existing folder")
    args = parser.parse_args()
    folder = RELEASES / args.version
    if folder.exists() and not args.force:
        raise SystemExit(f"{folder} exists: a release's fixture is kept as it was made")
    counts = build(folder)
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    rows = ", ".join(f"{name} {count}" for name, count in counts.items())
    (folder / "README.md").write_text(
        README.format(
            version=args.version, dump=DUMP, settings=SETTINGS, commit=commit or "unknown",
            day=f"{datetime.now(UTC):%Y-%m-%d}", rows=rows,
        )
    )  # fmt: skip
    print(f"{folder}: {rows}")


if __name__ == "__main__":
    main()
