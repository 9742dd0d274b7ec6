"""Upgrades keep data (issue 20.5): the warehouse each past release left behind
(tests/fixtures/releases/<version>/, made by `python -m tests.reliability.release_fixture`)
opens under this code, is migrated to every migration the code knows, and keeps every row
of every table with the values it had; the twin then lists, reports and finds what it
holds. A release adds its folder, and from then on these tests guard it too."""

from __future__ import annotations

import ast
import asyncio
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from bot.cli.main import cli
from bot.config import load_config
from bot.store_check import open_every_table
from bot.twin import Twin
from tests.reliability.release_fixture import (
    DUMP,
    RELEASES,
    ROOT,
    Table,
    current_version,
    load_home,
    tables,
)

PACKAGES = ("core", "retrieval", "ingest", "model", "training", "bot")
RELEASE_FOLDERS = sorted(p for p in RELEASES.iterdir() if (p / DUMP).is_file())


@pytest.fixture(params=RELEASE_FOLDERS, ids=[p.name for p in RELEASE_FOLDERS])
def old_home(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """A new TWIN_HOME whose warehouse is a past release's, as that release left it."""
    home = tmp_path / "home"
    load_home(request.param, home)
    return home


def known_migrations() -> set[str]:
    """The name of every `Migration(...)` the product's packages declare, read from their
    source (so a package added later is covered without being listed here)."""
    names: set[str] = set()
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if not (isinstance(node, ast.Call) and _called(node) == "Migration"):
                    continue
                first = node.args[0] if node.args else None
                assert isinstance(first, ast.Constant) and isinstance(first.value, str), (
                    f"{path}:{node.lineno}: a migration's name must be a literal string"
                )
                names.add(first.value)
    return names


def _called(call: ast.Call) -> str:
    func = call.func
    return func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")


def losses(before: dict[str, Table], after: dict[str, Table]) -> list[str]:
    """What of `before` is not in `after`, in words: tables, columns, and rows (each row's
    values in the columns it had then), compared row by row."""
    lost = []
    for name, (columns, rows) in before.items():
        if name not in after:
            lost.append(f"table {name} is gone ({len(rows)} rows)")
            continue
        new_columns, new_rows = after[name]
        gone = [c for c in columns if c not in new_columns]
        if gone:
            lost.append(f"{name}: column(s) {', '.join(gone)} are gone")
            continue
        where = [new_columns.index(c) for c in columns]
        now = Counter(tuple(row[i] for i in where) for row in new_rows)
        for row in (Counter(rows) - now).elements():
            lost.append(f"{name}: this row is gone or changed: {_short(row)}")
    return lost


def _short(row: tuple[Any, ...]) -> str:
    return "(" + ", ".join(repr(v)[:60] for v in row) + ")"


def column(table: Table, name: str) -> list[Any]:
    columns, rows = table
    return [row[columns.index(name)] for row in rows]


def run(home: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["--local", "--home", str(home), *args])
    return result.exit_code, result.output


def test_this_release_has_its_fixture() -> None:
    version = current_version()
    assert (RELEASES / version / DUMP).is_file(), (
        f"release {version} has no warehouse fixture: run "
        "`python -m tests.reliability.release_fixture` and commit its folder"
    )


def test_an_old_warehouse_migrates_and_keeps_every_row(old_home: Path) -> None:
    database = old_home / "warehouse.db"
    before = tables(database)
    assert all(rows for _, rows in before.values()), "the fixture leaves a table empty"
    twin = Twin(load_config(home=old_home, env={}))
    try:
        open_every_table(twin)  # as `llm-twin check` and the bot open them
    finally:
        twin.close()
    after = tables(database)
    missing = sorted(known_migrations() - set(column(after["twin_migrations"], "name")))
    assert not missing, f"opening every store did not apply: {', '.join(missing)}"
    lost = losses(before, after)
    assert not lost, "the upgrade lost data:\n" + "\n".join(lost)


def test_the_twin_lists_what_an_old_warehouse_holds(old_home: Path) -> None:
    before = tables(old_home / "warehouse.db")
    code, output = run(old_home, "sources")
    assert code == 0, output
    for url in column(before["sources"], "url"):
        assert url in output
    code, output = run(old_home, "models", "list")
    assert code == 0, output
    [active] = column(before["active_model"], "run_id")
    assert f"* {active} " in output
    for run_id in column(before["training_runs"], "id"):
        assert run_id in output
    code, output = run(old_home, "schedules")
    assert code == 0, output
    for job in column(before["apscheduler_jobs"], "id"):
        assert job == "heartbeat" or job in output
    twin = Twin(load_config(home=old_home, env={}))
    try:
        drafts = twin.drafts.rated_drafts()
        assert {d.id for d, _ in drafts} == set(column(before["drafts"], "id"))
        assert sum(len(f) for _, f in drafts) == len(before["feedback"][1])
    finally:
        twin.close()


@pytest.mark.slow  # the real embedder rebuilds the index
def test_check_repair_rebuilds_the_index_of_an_old_warehouse(old_home: Path) -> None:
    before = tables(old_home / "warehouse.db")
    code, output = run(old_home, "check", "--repair")
    assert code in (0, 1), output  # 1: a store needs attention (below), not a crash
    documents = len(before["documents"][1])
    assert f": {documents} documents, {len(before['sources'][1])} sources" in output, output
    assert f"repaired: index mended: {documents} documents re-indexed" in output, output
    # After the repair only the runs may need attention: the fixture is a warehouse
    # without the adapter folders its trained run names.
    rechecked = output[output.rindex("repaired: ") :].splitlines()[1:]
    others = ("home ", "warehouse ", "index ", "schedules ")
    assert not [line for line in rechecked if line.startswith(others)], output
    twin = Twin(load_config(home=old_home, env={}))
    try:
        found = before["documents"]
        for title, url in zip(column(found, "title"), column(found, "url"), strict=True):
            hits = asyncio.run(twin.search(title, k=3))
            assert url in [hit.chunk.url for hit in hits], title
    finally:
        twin.close()
