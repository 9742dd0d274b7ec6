"""The one consistency check every fault test runs afterwards: every warehouse document
has chunks in the index and every chunk its document, no half-registered training run,
no digest period claimed twice.

The product's own mending runs first when asked (`llm-twin check --repair`: the index
mended from the warehouse, runs whose process is gone marked failed), then its own check
(bot/store_check.py) must report no problem, and then the stores are read directly (the
warehouse's tables through SQL, the index's LanceDB table, the run folders on disk), so
the check fails if they disagree even where the product's check would not see it.

Each check is tallied (`TALLY`); tests/reliability/conftest.py prints the tally at the
end of the session, and each check prints its line (`pytest -s`).
"""

from __future__ import annotations

import itertools
import os
import socket
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from bot.config import Config, load_config
from bot.schedules.digest_log import digests as digests_table
from bot.store_check import check_stores, repair
from bot.twin import Twin
from ingest.warehouse.schema import documents as documents_table
from model.records import drafts as drafts_table
from training.registry import active_model
from training.registry import runs as runs_table

ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors")


@dataclass(frozen=True)
class Consistency:
    """What one check read: the counts, and what the product mended before it."""

    label: str
    documents: int
    chunks: int
    runs: Counter[str]
    digests: int
    drafts: int
    mended: tuple[str, ...] = ()

    def line(self) -> str:
        runs = ", ".join(f"{n} {status}" for status, n in sorted(self.runs.items())) or "none"
        mended = f"; mended: {' | '.join(self.mended)}" if self.mended else ""
        return (
            f"consistency [{self.label}]: {self.documents} documents, {self.chunks} chunks, "
            f"runs: {runs}, {self.digests} digests, {self.drafts} drafts{mended}"
        )


@dataclass
class Tally:
    faults: list[str] = field(default_factory=list)
    checks: list[Consistency] = field(default_factory=list)

    def summary(self) -> list[str]:
        after_fault = sum(1 for c in self.checks if c.label.startswith("after "))
        lines = [
            f"fault injection: {len(self.faults)} faults injected, {len(self.checks)} "
            f"consistency checks ({after_fault} right after a fault, "
            f"{len(self.checks) - after_fault} after the job ran again or with no fault)"
        ]
        lines += [f"  {check.line()}" for check in self.checks]
        return lines


TALLY = Tally()


def fault(name: str) -> str:
    """Record one injected fault; its name back (the label of the check after it)."""
    TALLY.faults.append(name)
    return f"after {name}"


def assert_consistent(
    home: Path, url: str = "", *, label: str = "", mend: bool = True
) -> Consistency:
    """Check that the stores of `home` (its warehouse at `url`, default its own SQLite)
    agree; raises AssertionError naming what does not. With `mend`, the product's own
    check and repair (`llm-twin check --repair`) run first, and its check must then find
    no problem; without, no product code touches the stores before they are read."""
    config = load_config({"warehouse.url": url} if url else {}, home=home, env={})
    mended = _check_and_repair(config) if mend else []
    engine = sa.create_engine(_driver(config.warehouse_url))
    try:
        with engine.connect() as conn:
            documents: set[str] = set()
            if sa.inspect(conn).has_table("documents"):
                documents = set(conn.scalars(sa.select(documents_table.c.id)))
            runs = _runs(conn)
            digests = _digests(conn)
    finally:
        engine.dispose()
    chunks = _index_chunks(config)
    indexed = set(chunks)
    assert documents <= indexed, f"documents without chunks: {sorted(documents - indexed)}"
    assert indexed <= documents, f"chunks without their document: {sorted(indexed - documents)}"
    result = Consistency(
        label or str(home),
        len(documents),
        sum(chunks.values()),
        Counter(run["status"] for run in runs),
        digests["rows"],
        digests["drafts"],
        tuple(mended),
    )
    TALLY.checks.append(result)
    print(result.line())
    return result


def _check_and_repair(config: Config) -> list[str]:
    """What `llm-twin check --repair` mended; its check afterwards must find nothing."""
    twin = Twin(config)
    try:
        mended = repair(twin, check_stores(twin))
        findings = check_stores(twin)
    finally:
        twin.close()
    problems = [f"{f.store}: {f.problem}" for f in findings if f.problem and f.store != "home"]
    assert not problems, problems  # a low disk ("home") is the fault under test, not a mess
    return mended


def _driver(url: str) -> sa.URL:
    parsed = sa.make_url(url)
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def _index_chunks(config: Config) -> Counter[str]:
    """Chunks per document id, read from the LanceDB table itself."""
    import lancedb

    db = lancedb.connect(config.index_path)
    if "chunks" not in db.list_tables().tables:
        return Counter()
    rows = db.open_table("chunks").search().select(["document_id"]).limit(None).to_arrow()
    return Counter(rows.column("document_id").to_pylist())


def _runs(conn: sa.Connection) -> list[dict[str, Any]]:
    """Every training run, checked: a trained run has its adapter on disk, a running one
    a live process, a run's folder exists; the active model is a trained run."""
    if not sa.inspect(conn).has_table("training_runs"):
        return []
    rows = [dict(r) for r in conn.execute(runs_table.select()).mappings()]
    by_id = {row["id"]: row for row in rows}
    for row in rows:
        paths = dict(row["paths"] or {})
        assert row["status"] in ("running", "trained", "failed"), row
        if row["status"] == "trained":
            adapter = Path(paths.get("adapter", ""))
            missing = [name for name in ADAPTER_FILES if not (adapter / name).is_file()]
            assert paths.get("adapter") and not missing, f"trained run without adapter: {row}"
        if row["status"] == "running":
            assert _alive(row["pid"], row["host"]), f"a running run with no process: {row}"
        if "run" in paths:
            assert Path(paths["run"]).is_dir(), f"a run without its folder: {row}"
    active = conn.execute(sa.select(active_model.c.run_id)).scalar()
    if active is not None:
        assert by_id.get(active, {}).get("status") == "trained", f"active run {active}"
    return rows


def _digests(conn: sa.Connection) -> dict[str, int]:
    """No digest period claimed twice or overlapping another of its destination; a sent
    digest's draft is stored."""
    inspector = sa.inspect(conn)
    drafts: set[str] = set()
    if inspector.has_table("drafts"):
        stored = conn.execute(sa.select(drafts_table.c.id, drafts_table.c.output)).all()
        assert all(row.output for row in stored), "a draft stored without its text"
        drafts = {row.id for row in stored}
    if not inspector.has_table("digests"):
        return {"rows": 0, "drafts": len(drafts)}
    query = digests_table.select().order_by(digests_table.c.destination, digests_table.c.period_end)
    rows = [dict(r) for r in conn.execute(query).mappings()]
    for before, after in itertools.pairwise(rows):
        if before["destination"] == after["destination"]:
            assert before["period_end"] != after["period_end"], f"a duplicate digest: {after}"
            assert after["period_start"] >= before["period_end"], f"overlapping digests: {after}"
    for row in rows:
        assert row["status"] in ("sending", "sent", "empty"), row
        if row["status"] == "sent" and row["draft_id"]:
            assert row["draft_id"] in drafts, f"a digest whose draft was not stored: {row}"
    return {"rows": len(rows), "drafts": len(drafts)}


def _alive(pid: int | None, host: str) -> bool:
    if pid is None:
        return False
    if host != socket.gethostname():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
