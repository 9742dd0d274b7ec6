"""`llm-twin backup FILE`: one archive of everything a twin cannot get back by recrawling,
taken while the bot runs.

In it: the warehouse, every table (sources and documents, drafts with their ratings and
edits, training runs and the registry, the scheduler's jobs, digests), as one consistent
snapshot: SQLite's online backup API (writers go on meanwhile), or `pg_dump` of the
warehouse's schema under a snapshot exported from the transaction that also counts each
table's rows. Then the files of TWIN_HOME nothing else holds: `runs/` (adapters, eval
reports, GGUF and EXL2 builds; not checkpoints or merged models, which are remade from
the adapter), `datasets/` (each run's exact splits), `uploads/` (files sources point at)
and `settings.toml`. Not the index (rebuilt from the warehouse on restore), model caches,
logs, or secrets (the web token, LinkedIn's session): a new home makes its own.

The database is copied before the files, so no row names a file the archive lacks. The
archive is written beside FILE and renamed into place: a failed backup leaves nothing.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import Engine

from core.errors import InputError, StorageError
from core.wording import plural
from ingest.warehouse.store import Warehouse

FORMAT = 1
MANIFEST = "llm-twin-backup.json"
SQLITE_MEMBER = "warehouse.db"
POSTGRES_MEMBER = "warehouse.pgdump"
HOME = "home/"  # the prefix of TWIN_HOME's files in the archive
KEPT = ("runs", "datasets", "uploads", "settings.toml")


@dataclass
class BackupManifest:
    """What an archive holds, written first in it as JSON."""

    created_at: str
    home: str  # TWIN_HOME as configured, and resolved: runs' paths start with either
    home_resolved: str
    warehouse: str  # "sqlite" or "postgresql"
    schema: str = ""  # PostgreSQL: the schema the tables were dumped from
    tables: dict[str, int] = field(default_factory=dict)  # rows per table
    files: list[str] = field(default_factory=list)  # under TWIN_HOME, posix
    format: int = FORMAT

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), indent=2, sort_keys=True).encode()

    @classmethod
    def from_json(cls, data: bytes, where: str) -> BackupManifest:
        try:
            manifest = cls(**json.loads(data))
        except (ValueError, TypeError) as exc:
            raise InputError(where, f"its {MANIFEST} is damaged ({exc})") from exc
        if manifest.format > FORMAT:
            raise InputError(
                where, f"made by a newer llm-twin (format {manifest.format}); upgrade to restore it"
            )
        return manifest


def backup(home: Path, warehouse: Warehouse, target: Path) -> BackupManifest:
    """Write the archive of `home` and `warehouse` to `target`; what it holds."""
    target = target.expanduser().resolve()
    if target.is_dir():
        raise InputError(str(target), "is a folder; give the archive's file name, e.g. twin.tar.gz")
    partial = target.with_name(f".{target.name}.partial")
    try:
        with tempfile.TemporaryDirectory(prefix="twin-backup-", dir=target.parent) as work:
            manifest = _snapshot(home, warehouse, Path(work))
            with tarfile.open(partial, "w:gz", compresslevel=6) as tar:
                _add_bytes(tar, MANIFEST, manifest.to_json())
                member = SQLITE_MEMBER if manifest.warehouse == "sqlite" else POSTGRES_MEMBER
                tar.add(Path(work) / member, arcname=member)
                for name in manifest.files:
                    tar.add(home / name, arcname=HOME + name, recursive=False)
        os.replace(partial, target)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise StorageError(
            f"backup {target}: cannot write it ({exc.strerror or exc}); check that its "
            "folder exists, is writable and has room for the archive"
        ) from exc
    return manifest


def backup_into(
    home: Path, warehouse: Warehouse, folder: Path, keep: int
) -> tuple[Path, BackupManifest, int]:
    """A backup named by its time in `folder` (the scheduled backup), then all but the
    newest `keep` there removed: where it went, what it holds, how many were removed."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"llm-twin-{datetime.now(UTC):%Y%m%d-%H%M%S-%f}.tar.gz"
    manifest = backup(home, warehouse, target)
    archives = sorted(folder.glob("llm-twin-*.tar.gz"))  # their names sort by time
    old = archives[: max(0, len(archives) - keep)]
    for archive in old:
        archive.unlink(missing_ok=True)
    return target, manifest, len(old)


def _snapshot(home: Path, warehouse: Warehouse, work: Path) -> BackupManifest:
    engine = warehouse.engine
    if engine.dialect.name == "sqlite":
        tables = sqlite_snapshot(engine, work / SQLITE_MEMBER)
        schema, kind = "", "sqlite"
    else:
        schema, tables = _pg_dump(engine, work / POSTGRES_MEMBER, warehouse.safe_url)
        kind = "postgresql"
    return BackupManifest(
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        home=str(home),
        home_resolved=str(home.resolve()),
        warehouse=kind,
        schema=schema,
        tables=tables,
        files=home_files(home),  # after the database: no row names a file left out
    )


def sqlite_snapshot(engine: Engine, target: Path) -> dict[str, int]:
    """Copy the database with SQLite's online backup API (one read transaction: a
    consistent snapshot while writers go on); the rows per table of the copy."""
    source = sqlite3.connect(str(engine.url.database), timeout=60)
    copy = sqlite3.connect(str(target))
    try:
        source.backup(copy)
        names = [
            row[0]
            for row in copy.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        ]
        return {
            name: copy.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0] for name in names
        }
    finally:
        copy.close()
        source.close()


def _pg_dump(engine: Engine, target: Path, safe_url: str) -> tuple[str, dict[str, int]]:
    """`pg_dump` of the warehouse's schema under a snapshot exported from the transaction
    that counts the rows, so the counts are the dump's."""
    with engine.connect() as conn:
        conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            snapshot = conn.scalar(sa.text("SELECT pg_export_snapshot()"))
            schema = str(conn.scalar(sa.text("SELECT current_schema()")))
            names = sorted(sa.inspect(conn).get_table_names(schema=schema))
            tables = {
                name: int(conn.scalar(sa.select(sa.func.count()).select_from(sa.table(name))) or 0)
                for name in names
            }
            pg_tool(
                "pg_dump",
                engine,
                safe_url,
                "--format=custom",
                "--no-owner",
                "--no-privileges",
                f"--snapshot={snapshot}",
                f'--table="{schema}".*',
                f"--file={target}",
            )
    return schema, tables


def pg_tool(tool: str, engine: Engine, safe_url: str, *args: str) -> None:
    """Run `pg_dump` or `pg_restore` against the warehouse's database (the password goes
    in the environment, never on the command line); a failure is one line."""
    found = shutil.which(tool)
    if found is None:
        raise StorageError(
            f"warehouse {safe_url}: {tool} is needed for a PostgreSQL warehouse and is not on"
            " PATH; install PostgreSQL's client tools (Debian: apt-get install postgresql-client)"
        )
    url = engine.url.set(drivername="postgresql")
    env = {**os.environ, **({"PGPASSWORD": str(url.password)} if url.password else {})}
    dbname = url.set(password=None).render_as_string(hide_password=False)
    done = subprocess.run(
        [found, *args, f"--dbname={dbname}"], capture_output=True, text=True, env=env, check=False
    )
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        reason = lines[0] if lines else f"exit status {done.returncode}"
        raise StorageError(f"warehouse {safe_url}: {tool} failed ({reason})")


def home_files(home: Path) -> list[str]:
    """The files of `home` a backup keeps, relative and sorted: the `KEPT` entries, less
    training checkpoints, merged models and half-written (dot) entries."""
    found = []
    for name in KEPT:
        top = home / name
        paths = [top] if top.is_file() else sorted(top.rglob("*")) if top.is_dir() else []
        for path in paths:
            parts = path.relative_to(home).parts
            if any(_remade(part) for part in parts):
                continue
            if path.is_file() and not path.is_symlink():
                found.append("/".join(parts))
    return found


def _remade(part: str) -> bool:
    return part == "merged" or part.startswith(("checkpoint-", "."))


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = int(datetime.now(UTC).timestamp())
    tar.addfile(info, io.BytesIO(data))


def describe(tables: dict[str, int]) -> str:
    """What the owner would miss, in words: "6 documents, 2 drafts, …"."""
    words = (
        ("documents", "document", None),
        ("drafts", "draft", None),
        ("feedback", "rating or edit", "ratings or edits"),
        ("training_runs", "training run", None),
        ("apscheduler_jobs", "scheduled job", None),
    )
    return ", ".join(plural(tables.get(name, 0), one, many) for name, one, many in words)
