"""`llm-twin check`: the state of every store of a twin, one line each, and mending what
can be mended from the warehouse (`--repair`).

The stores: the home folder (and the disk it is on), the warehouse (rows per table, the
last migration), the index against the warehouse (documents, chunks, the manifest it was
built with), the schedules (jobs, and which process holds their lease) and the training
runs (each trained run's adapter still on disk). Checking writes nothing but what opening
a store always does (its migrations); repairing goes the ways the twin already has: the
index mended from the warehouse (bot/index_health.py), or rebuilt by `reindex` when it
cannot be opened, and runs whose process is gone marked failed.
"""

from __future__ import annotations

import asyncio
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa

from core.errors import TwinError
from core.wording import plural

if TYPE_CHECKING:
    from bot.twin import Twin

LOW_DISK = 1 << 30  # under 1 GiB free: an ingest or a training run may not fit


@dataclass(frozen=True)
class Finding:
    store: str  # home, warehouse, index, schedules, runs
    line: str  # what the owner reads
    problem: str = ""  # what is wrong and what to do ("": nothing)
    repairable: bool = False  # `--repair` mends it


def check_stores(twin: Twin) -> list[Finding]:
    """One finding per store, in the order the owner reads them."""
    # Every package's tables opened (and migrated) first: the last migration is the
    # schema's, whichever command opened the database before.
    open_every_table(twin)
    return [_home(twin), _warehouse(twin), _index(twin), _schedules(twin), _runs(twin)]


def open_every_table(twin: Twin) -> None:
    """Open every package's warehouse tables, which applies their pending migrations
    (tests/reliability/test_upgrade.py holds an old release's warehouse to it)."""
    from bot.schedules.digest_log import DigestLog
    from bot.schedules.state import SchedulerState

    _ = twin.drafts, twin.models
    DigestLog(twin.warehouse)
    SchedulerState(twin.warehouse.engine, twin.warehouse.writer)


def repair(twin: Twin, findings: list[Finding]) -> list[str]:
    """Mend what `findings` say can be mended; what was done, one line each."""
    done = []
    index = next(f for f in findings if f.store == "index")
    if index.repairable and "cannot be opened" in index.problem:
        result = asyncio.run(twin.reindex())
        done.append(f"index rebuilt from the warehouse: {plural(result.chunks, 'chunk')}")
        if result.error:
            done.append(f"the rebuild reported: {result.error}")
    elif index.repairable:
        _ = twin.index  # opening it starts the mend (bot/index_health.py)
        twin.health.wait()
        mended = twin.health.mended
        done.append(f"index mended: {mended.describe()}" if mended else "index: nothing to mend")
    reaped = twin.models.reap()
    if reaped:
        done.append(f"marked failed (their process is gone): {', '.join(reaped)}")
    return done


def _home(twin: Twin) -> Finding:
    home = twin.config.home
    try:
        usage = shutil.disk_usage(home)
    except OSError as exc:
        return Finding("home", f"{home}: {exc.strerror}", f"{home} cannot be read ({exc})")
    free = f"{_size(usage.free)} free of {_size(usage.total)}"
    problem = ""
    if usage.free < LOW_DISK:
        problem = f"the disk holding {home} has {_size(usage.free)} free; free some space"
    return Finding("home", f"{home.resolve()} ({free})", problem)


def _warehouse(twin: Twin) -> Finding:
    from ingest.warehouse.inventory import migrations_applied, table_counts

    warehouse = twin.warehouse
    counts = table_counts(warehouse.engine)
    applied = migrations_applied(warehouse.engine)
    words = [
        plural(counts.get("documents", 0), "document"),
        plural(counts.get("sources", 0), "source"),
        plural(counts.get("drafts", 0), "draft"),
        plural(counts.get("feedback", 0), "rating or edit", "ratings or edits"),
        plural(counts.get("training_runs", 0), "training run"),
    ]
    last = applied[-1] if applied else None
    migrated = (
        f"{plural(len(applied), 'migration')}, the last {last.name} ({last.applied_at:%Y-%m-%d})"
        if last
        else "no migrations"
    )
    return Finding("warehouse", f"{warehouse.safe_url}: {', '.join(words)}; {migrated}")


def _index(twin: Twin) -> Finding:
    """The index opened on its own (no background mend), compared with the warehouse."""
    from bot.config import secret
    from ingest.healing import compare
    from retrieval.index import open_configured_index

    config = twin.config
    where = f"{config.index.backend} at {config.index_path}"
    try:
        manifest = twin.manifest()
        index = open_configured_index(
            config.index,
            manifest,
            path=config.index_path,
            api_key=secret("index", "weaviate_api_key"),
        )
        agreement = compare(twin.warehouse, index)
    except TwinError as exc:
        problem = f"it cannot be opened ({exc})"
        return Finding("index", f"{where}: cannot be opened", problem, repairable=True)
    built = (
        f"built with {manifest.embedding_model} ({manifest.dimension} dimensions), chunks of "
        f"{manifest.chunk_tokens} tokens overlapping {manifest.chunk_overlap}"
    )
    line = f"{where}: {agreement.describe()}; {built}"
    if agreement.ok:
        return Finding("index", line)
    return Finding("index", line, "it is out of step with the warehouse", repairable=True)


def _schedules(twin: Twin) -> Finding:
    from bot.schedules.state import SchedulerState

    engine = twin.warehouse.engine
    state = SchedulerState(engine, twin.warehouse.writer)
    jobs = sa.table("apscheduler_jobs", sa.column("id"), sa.column("next_run_time"))
    with engine.connect() as conn:
        stored = conn.execute(sa.select(jobs.c.id, jobs.c.next_run_time)).all()
    wanted = [row for row in stored if row.id != "heartbeat"]
    paused = sum(row.next_run_time is None for row in wanted)
    counts = plural(len(wanted), "job") + (f" ({paused} paused)" if paused else "")
    lease = state.holder()
    if lease is None:
        return Finding("schedules", f"{counts}; no bot runs them now")
    ago = (datetime.now(UTC) - lease.renewed_at).total_seconds()
    return Finding("schedules", f"{counts}; run by {lease.holder} (lease renewed {ago:.0f} s ago)")


def _runs(twin: Twin) -> Finding:
    models = twin.models
    runs = models.runs(limit=100_000)
    by_status: dict[str, int] = {}
    for run in runs:
        by_status[run.status] = by_status.get(run.status, 0) + 1
    statuses = ", ".join(f"{count} {status}" for status, count in sorted(by_status.items()))
    active = models.active()
    serving = f"drafting with run {active.id}" if active else "drafting with the base model"
    line = f"{plural(len(runs), 'training run')}" + (f" ({statuses})" if runs else "")
    lost = [
        f"{run.id} ({adapter})"
        for run in runs
        if run.status == "trained"
        and (adapter := run.paths.get("adapter"))
        and not Path(adapter).exists()
    ]
    problem = ""
    if lost:
        problem = (
            f"the adapter folder of {plural(len(lost), 'trained run')} is missing: "
            f"{', '.join(lost)}; restore it from a backup (`llm-twin restore`) or train again"
        )
    return Finding("runs", f"{line}; {serving}", problem)


def _size(count: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if count < 1000:
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1000
    return f"{count:.1f} TB"
