"""`llm-twin backup` and `llm-twin restore`: a populated home (documents, drafts with
ratings and edits, a trained and a running training run with their folders, a dataset,
scheduled jobs and the lease, a digest, an upload, saved settings) backed up and restored
on a new home gives every table's rows and every kept file back, and a working twin with
its index rebuilt; on SQLite and on PostgreSQL, and while a bot keeps writing."""

from __future__ import annotations

import asyncio
import hashlib
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from bot.backup import home_files
from bot.cli.main import cli
from bot.config import Config, load_config
from bot.restore import read_manifest
from bot.schedules.digest_log import DigestLog
from bot.schedules.service import ScheduleService
from bot.twin import Twin
from ingest.healing import compare
from model.records import DraftRecord, SourceRef
from training.dataset import DatasetStats, Example, save_dataset

SAMPLE = Path(__file__).resolve().parents[2] / "sample"
# Real processes and the real embedder: the slow lane (tests/conftest.py).
pytestmark = pytest.mark.slow


def run(home: Path, url: str, *args: str) -> tuple[int, str]:
    settings = ["--set", f"warehouse.url={url}"] if url else []
    result = CliRunner().invoke(
        cli, ["--local", "--home", str(home), *settings, *args], catch_exceptions=False
    )
    return result.exit_code, result.output


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def urls(request: pytest.FixtureRequest) -> Iterator[tuple[str, str]]:
    """(the source's warehouse URL, the restore target's): "" is SQLite in the home; on
    PostgreSQL two new databases (a restore keeps the schema the tables were in)."""
    if request.param == "sqlite":
        yield "", ""
        return
    admin = sa.make_url(request.getfixturevalue("postgres_admin_url"))
    names = [f"twin_{os.getpid()}_{n}_{id(request)}" for n in ("src", "dst")]
    conninfo = admin.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        for name in names:
            conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield tuple(admin.set(database=n).render_as_string(hide_password=False) for n in names)  # type: ignore[misc]
    finally:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            for name in names:
                conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def populate(twin: Twin) -> dict[str, str]:
    """Everything a backup keeps; the ids of the trained and the running run."""
    home = twin.config.home

    async def ingest() -> None:
        async with twin.ingestor() as ingestor:
            [result] = await ingestor.ingest([str(SAMPLE)], allow_paths=True)
        assert result.ok

    asyncio.run(ingest())
    for n in range(3):
        draft = twin.drafts.save(
            DraftRecord(
                f"why evals {n}", "post", f"Evals matter {n}.", "stop", "hf", "smol", "1",
                sources=(SourceRef("file:///x", "X", "voice"),), params={"temperature": 0.7},
            )
        )  # fmt: skip
        twin.drafts.add_feedback(draft.id, user="owner", rating=1)
        twin.drafts.add_feedback(draft.id, user="owner", edited_text=f"Evals really matter {n}.")
    dataset = save_dataset(
        home / "datasets",
        [Example("d", "https://x.test/d", "blog", "t", "Write.", "A post.")],
        [Example("e", "https://x.test/e", "blog", "u", "Write.", "Another.")],
        DatasetStats(),
    )
    trained = fake_run(twin, dataset.folder, finish=True)
    running = fake_run(twin, dataset.folder, finish=False)
    twin.models.activate(trained)
    asyncio.run(schedules(twin))
    DigestLog(twin.warehouse).claim("telegram:42", datetime.now(UTC))
    (home / "uploads").mkdir()
    (home / "uploads" / "export.zip").write_bytes(os.urandom(2048))
    (home / "settings.toml").write_text("[search]\nk = 7\n")
    return {"trained": trained, "running": running}


def fake_run(twin: Twin, dataset: Path, *, finish: bool) -> str:
    models = twin.models
    run = models.start(base_model="base", dataset_hash="h", dataset_folder=str(dataset), config={})
    folder = twin.config.home / "runs" / run.id
    for name, data in {
        "adapter/adapter_model.safetensors": os.urandom(4096),
        "adapter/adapter_config.json": b'{"r": 8}',
        "eval/report.json": b'{"perplexity": 9.5}',
        "sft/checkpoint-2/optimizer.pt": os.urandom(1024),  # remade by training: left out
        "merged/model.safetensors": os.urandom(1024),  # remade from the adapter: left out
    }.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    models.add_paths(run.id, run=str(folder), adapter=str(folder / "adapter"))
    if finish:
        models.finish(run.id)
    return run.id


async def schedules(twin: Twin) -> None:
    service = ScheduleService(twin)
    service.schedules.open_paused()
    service.schedules.sync([s.url for s in twin.warehouse.list_sources()])
    service.schedules.pause("retrain")
    service.schedules.stop()
    service.state.acquire("a bot on the old machine")


def rows(config: Config) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, sorted."""
    engine = sa.create_engine(
        config.warehouse_url.replace("postgresql://", "postgresql+psycopg://")
    )
    try:
        metadata = sa.MetaData()
        metadata.reflect(engine)
        with engine.connect() as conn:
            return {
                name: sorted((tuple(r) for r in conn.execute(sa.select(table))), key=repr)
                for name, table in metadata.tables.items()
            }
    finally:
        engine.dispose()


def digests(home: Path, names: list[str]) -> dict[str, str]:
    return {name: hashlib.sha256((home / name).read_bytes()).hexdigest() for name in names}


def test_a_populated_home_comes_back_whole_on_a_new_home(
    tmp_path: Path, urls: tuple[str, str]
) -> None:
    source_url, target_url = urls
    old_home, new_home = tmp_path / "old", tmp_path / "new"
    twin = Twin(
        load_config({"warehouse.url": source_url} if source_url else {}, home=old_home, env={})
    )
    ids = populate(twin)
    before = rows(twin.config)
    twin.close()
    kept = home_files(old_home)
    assert "settings.toml" in kept and "uploads/export.zip" in kept
    assert f"runs/{ids['trained']}/adapter/adapter_model.safetensors" in kept
    assert not [f for f in kept if "checkpoint-" in f or "/merged/" in f]

    archive = tmp_path / "twin.tar.gz"
    code, output = run(old_home, source_url, "backup", str(archive))
    assert code == 0, output
    assert output.startswith("backed up 6 documents, 3 drafts, 6 ratings or edits, 2 training runs")
    assert read_manifest(archive).files == kept

    code, output = run(new_home, target_url, "restore", str(archive))
    assert code == 0, output
    assert f"note: run {ids['running']} was training when the backup was taken" in output
    assert "index rebuilt from the warehouse: 6 chunks" in output
    assert digests(new_home, kept) == digests(old_home, kept)
    assert sorted(home_files(new_home)) == sorted(kept)

    restored = Twin(
        load_config({"warehouse.url": target_url} if target_url else {}, home=new_home, env={})
    )
    try:
        after = rows(restored.config)
        expected_runs = {r[0]: r for r in before.pop("training_runs")}
        for row in after.pop("training_runs"):
            run_row = restored.models.require(row[0])
            assert run_row.paths["adapter"] == str(new_home.resolve() / "runs" / row[0] / "adapter")
            assert Path(run_row.paths["adapter"]).is_dir()
            assert run_row.dataset_folder.startswith(str(new_home.resolve()))
            assert run_row.status == ("trained" if row[0] == ids["trained"] else "failed")
            assert row[0] in expected_runs
        assert after == before  # every other table, row for row
        assert compare(restored.warehouse, restored.index).ok
        assert restored.models.active() is not None
        hits = asyncio.run(restored.search("sqlite backups", k=1))
        assert hits[0].chunk.url.endswith("04-sqlite-is-enough.md")
        assert restored.config.search.k == 7  # the saved settings came back
        assert len(restored.drafts.rated_drafts()) == 3
    finally:
        restored.close()
    assert run(new_home, target_url, "check")[0] == 0


def test_restore_refuses_a_home_that_is_not_empty_unless_forced(tmp_path: Path) -> None:
    home = tmp_path / "home"
    twin = Twin(load_config(home=home, env={}))
    asyncio.run(ingest_sample(twin))
    twin.close()
    archive = tmp_path / "twin.tar.gz"
    assert run(home, "", "backup", str(archive))[0] == 0
    (home / "settings.toml").write_text("[search]\nk = 3\n")

    code, output = run(home, "", "restore", str(archive))
    assert code == 2
    assert output.startswith(f"error: {home}: is not empty (it holds index, settings.toml,")
    assert "add --force" in output and output.count("\n") == 1
    code, output = run(home, "", "restore", "--force", str(archive))
    assert code == 0, output
    assert not (home / "settings.toml").exists()  # replaced by the backup's (it had none)
    assert run(home, "", "check")[0] == 0

    code, output = run(tmp_path / "other", "", "restore", str(SAMPLE / "05-evals.md"))
    assert code == 2 and "not an llm-twin backup" in output and output.count("\n") == 1


async def ingest_sample(twin: Twin) -> None:
    async with twin.ingestor() as ingestor:
        [result] = await ingestor.ingest([str(SAMPLE)], allow_paths=True)
    assert result.ok


def test_a_backup_taken_while_a_bot_writes_is_consistent(
    tmp_path: Path, urls: tuple[str, str]
) -> None:
    source_url, target_url = urls
    old_home, new_home = tmp_path / "old", tmp_path / "new"
    command = [sys.executable, "-m", "tests.reliability.busy_bot", str(old_home), source_url]
    bot = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert bot.stdout is not None and bot.stdin is not None
    try:
        assert bot.stdout.readline().strip() == "writing"
        archives = [tmp_path / f"during-{n}.tar.gz" for n in range(3)]
        for archive in archives:
            code, output = run(old_home, source_url, "backup", str(archive))
            assert code == 0, output
    finally:
        bot.stdin.close()
        saved = int(bot.stdout.readline())
        bot.wait(timeout=60)
    counts = [read_manifest(a).tables["drafts"] for a in archives]
    assert 0 < counts[0] <= counts[1] <= counts[2] <= saved  # snapshots, in order
    code, output = run(new_home, target_url, "restore", str(archives[1]))
    assert code == 0, output  # restore checks every table's rows against the backup
    restored = Twin(
        load_config({"warehouse.url": target_url} if target_url else {}, home=new_home, env={})
    )
    try:
        with restored.warehouse.engine.connect() as conn:
            orphans = conn.scalar(
                sa.text(
                    "SELECT count(*) FROM feedback WHERE draft_id NOT IN (SELECT id FROM drafts)"
                )
            )
            if restored.warehouse.engine.dialect.name == "sqlite":
                assert conn.scalar(sa.text("PRAGMA integrity_check")) == "ok"
        assert orphans == 0
        assert len(restored.drafts.recent(limit=10_000)) == counts[1]
    finally:
        restored.close()


def test_a_scheduled_backup_is_one_config_line_and_keeps_the_newest(tmp_path: Path) -> None:
    home = tmp_path / "home"
    settings = {"schedules.backup_cron": "0 4 * * *", "schedules.backup_keep": "2"}
    twin = Twin(load_config(settings, home=home, env={}))
    asyncio.run(ingest_sample(twin))

    async def back_up_three_times() -> list[str]:
        service = ScheduleService(twin)
        assert "backup" in service.schedules.wanted([])
        return [await service.runtime.run("backup") for _ in range(3)]

    try:
        said = asyncio.run(back_up_three_times())
    finally:
        twin.close()
    assert all(line.startswith("backed up 6 documents, 0 drafts") for line in said), said
    assert said[-1].endswith("(1 old removed)")
    kept = sorted((home / "backups").glob("llm-twin-*.tar.gz"))
    assert len(kept) == 2
    assert all(read_manifest(archive).tables["documents"] == 6 for archive in kept)
    assert str(kept[-1]) in said[-1]
