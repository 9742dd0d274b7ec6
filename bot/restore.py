"""`llm-twin restore FILE`: a backup (bot/backup.py) into an empty TWIN_HOME, giving a
working twin: its files put back, its warehouse restored (and migrated, when the backup
is from an older release), every table's rows checked against the backup's count, its
training runs pointed at the new home, then the index rebuilt from the warehouse (the
caller runs `Twin.reindex`, the one way an index is rebuilt).

A home that holds anything is refused unless `force`: then its warehouse, index and the
backed-up folders are replaced, and everything else in it is left alone.
"""

from __future__ import annotations

import shutil
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import sqlalchemy as sa
from sqlalchemy import Engine

from bot.backup import HOME, KEPT, MANIFEST, POSTGRES_MEMBER, SQLITE_MEMBER, BackupManifest, pg_tool
from core.errors import InputError, StorageError
from ingest.warehouse.engine import create_engine, mask_url
from ingest.warehouse.inventory import table_counts, table_names
from ingest.warehouse.migrations import MIGRATIONS_TABLE
from ingest.warehouse.store import Warehouse
from training.registry import RUNNING, runs


@dataclass(frozen=True)
class Restored:
    manifest: BackupManifest
    tables: dict[str, int]  # rows per table, as restored
    interrupted: list[str]  # runs that were training when the backup was taken


def read_manifest(archive: Path) -> BackupManifest:
    """What `archive` holds, or an InputError saying why it is not a backup."""
    where = str(archive)
    try:
        with tarfile.open(archive, "r:*") as tar:
            member = tar.extractfile(MANIFEST)
            if member is None:
                raise KeyError(MANIFEST)
            return BackupManifest.from_json(member.read(), where)
    except FileNotFoundError:
        raise InputError(where, "no such file") from None
    except (tarfile.TarError, KeyError, OSError) as exc:
        why = f"it holds no {MANIFEST}" if isinstance(exc, KeyError) else "not a tar archive"
        raise InputError(
            where, f"not an llm-twin backup ({why}); make one with `llm-twin backup FILE`"
        ) from None


def restore(archive: Path, home: Path, warehouse_url: str, *, force: bool) -> Restored:
    """Put the backup in `archive` into `home` and the warehouse at `warehouse_url`."""
    manifest = read_manifest(archive)
    kind = sa.make_url(warehouse_url).get_backend_name()
    if kind != manifest.warehouse:
        raise InputError(
            str(archive),
            f"it holds a {manifest.warehouse} warehouse and warehouse.url names a {kind} one;"
            f" set warehouse.url to a {manifest.warehouse} database to restore it",
        )
    _check_empty(home, warehouse_url, force=force)
    with tarfile.open(archive, "r:*") as tar:
        _put_files(tar, manifest, home, force=force)
        if manifest.warehouse == "sqlite":
            _put_sqlite(tar, warehouse_url, force=force)
        else:
            _put_postgres(tar, manifest, warehouse_url, force=force)
    with Warehouse(warehouse_url) as warehouse:  # migrates a backup of an older release
        interrupted = _adopt_runs(warehouse, manifest, home)
        tables = table_counts(warehouse.engine)
    wrong = {
        name: (rows, tables.get(name))
        for name, rows in manifest.tables.items()
        if name != MIGRATIONS_TABLE and tables.get(name) != rows
    }
    if wrong:
        raise StorageError(
            f"restore {archive}: the restored warehouse does not hold what the backup does "
            f"(table: backup rows, restored rows: {wrong}); the archive may be damaged"
        )
    return Restored(manifest, tables, interrupted)


@contextmanager
def bare_engine(url: str) -> Iterator[tuple[Engine, str]]:
    """The database at `url`, opened without creating or migrating anything."""
    safe_url = mask_url(url)
    _, engine = create_engine(url, safe_url)
    try:
        yield engine, safe_url
    finally:
        engine.dispose()


def _check_empty(home: Path, warehouse_url: str, *, force: bool) -> None:
    held = sorted(p.name for p in home.iterdir()) if home.is_dir() else []
    if sa.make_url(warehouse_url).get_backend_name() == "postgresql" and not force:
        with bare_engine(warehouse_url) as (engine, safe_url):
            tables = table_names(engine)
        if tables:
            raise InputError(
                safe_url,
                f"the database already holds tables ({', '.join(tables[:5])}…); restore into"
                " an empty database, or add --force to replace them with the backup's",
            )
    if held and not force:
        raise InputError(
            str(home),
            f"is not empty (it holds {', '.join(held[:5])}); restore into a new TWIN_HOME, or"
            " add --force to replace its warehouse, index and backed-up files with the backup's",
        )


def _put_files(tar: tarfile.TarFile, manifest: BackupManifest, home: Path, *, force: bool) -> None:
    """Extract the home's files, each checked to stay inside `home` (no absolute paths,
    no `..`, regular files only)."""
    home.mkdir(parents=True, exist_ok=True)
    if force:
        for name in (*KEPT, "index"):
            target = home / name
            if target.is_dir():
                shutil.rmtree(target)
            else:
                target.unlink(missing_ok=True)
    for member in tar.getmembers():
        if not member.name.startswith(HOME):
            continue
        relative = PurePosixPath(member.name[len(HOME) :])
        if not member.isreg() or relative.is_absolute() or ".." in relative.parts:
            raise InputError(member.name, "an archive entry that does not belong in a backup")
        target = home.joinpath(*relative.parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        source = tar.extractfile(member)
        assert source is not None  # a regular file
        with source, target.open("wb") as out:
            shutil.copyfileobj(source, out)


def _put_sqlite(tar: tarfile.TarFile, warehouse_url: str, *, force: bool) -> None:
    database = sa.make_url(warehouse_url).database
    if not database:
        raise InputError(warehouse_url, "not a SQLite file to restore into")
    path = Path(database).expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.restoring")
    source = tar.extractfile(SQLITE_MEMBER)
    if source is None:
        raise InputError(SQLITE_MEMBER, "missing from the archive")
    with source, partial.open("wb") as out:
        shutil.copyfileobj(source, out)
    for stale in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if force:
            stale.unlink(missing_ok=True)
    partial.replace(path)


def _put_postgres(
    tar: tarfile.TarFile, manifest: BackupManifest, warehouse_url: str, *, force: bool
) -> None:
    with bare_engine(warehouse_url) as (engine, safe_url):
        with engine.connect() as conn:
            schema = str(conn.scalar(sa.text("SELECT current_schema()")))
        if schema != manifest.schema:
            raise InputError(
                safe_url,
                f"the backup's tables are in schema {manifest.schema!r} and this database puts"
                f" {schema!r} first; restore into a database whose search path starts with"
                f" {manifest.schema!r}",
            )
        with tempfile.TemporaryDirectory(prefix="twin-restore-") as work:
            tar.extract(POSTGRES_MEMBER, work, filter="data")
            options = ["--clean", "--if-exists"] if force else []
            pg_tool(
                "pg_restore",
                engine,
                safe_url,
                "--no-owner",
                "--no-privileges",
                "--single-transaction",
                "--exit-on-error",
                *options,
                str(Path(work) / POSTGRES_MEMBER),
            )


def _adopt_runs(warehouse: Warehouse, manifest: BackupManifest, home: Path) -> list[str]:
    """Point the runs' folders at `home`, and mark runs that were training when the backup
    was taken as failed (their process is on the old machine, or gone)."""
    if "training_runs" not in manifest.tables:
        return []
    new_home = str(home.resolve())
    old_homes = sorted({manifest.home_resolved, manifest.home}, key=len, reverse=True)

    def moved(value: str) -> str:
        for old in old_homes:
            if value == old or value.startswith(old.rstrip("/") + "/"):
                return new_home + value[len(old.rstrip("/")) :]
        return value

    interrupted = []
    with warehouse.writer.begin() as conn:
        for row in conn.execute(sa.select(runs)).mappings().all():
            values: dict[str, object] = {
                "paths": {key: moved(str(path)) for key, path in dict(row["paths"]).items()},
                "dataset_folder": moved(row["dataset_folder"]),
                "base_model": moved(row["base_model"]),
            }
            if row["status"] == RUNNING:
                interrupted.append(row["id"])
                values |= {
                    "status": "failed",
                    "pid": None,
                    "error": "it was training when the backup was taken; train again",
                }
            conn.execute(sa.update(runs).where(runs.c.id == row["id"]).values(values))
    return interrupted
