"""Append-only, named schema migrations recorded in the database itself.

Every package that owns tables (ingest: sources, documents; model: drafts, feedback;
training: runs, registry) keeps its own ordered list of `Migration`s and calls
`run_migrations` on open. A migration is applied once, in its own transaction, and its
name is recorded in `twin_migrations`; a name is never renamed, edited or removed, only
new ones appended. Each migration carries its own DDL rather than the current table
definitions, so a later schema change never rewrites what an old database went through.

Two processes may open the same database at once: on PostgreSQL they queue on an
advisory lock; on SQLite each migration runs under `BEGIN IMMEDIATE` (one writer at a
time, waiting on the busy timeout) and re-checks that nobody applied it meanwhile.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import (
    Column,
    Connection,
    DateTime,
    Engine,
    MetaData,
    String,
    Table,
    func,
    inspect,
    select,
)

MIGRATIONS_TABLE = "twin_migrations"

# One fixed key for every runner in the database: the packages share one record table, so
# they take turns. (Advisory locks are per database; other databases are unaffected.)
_PG_LOCK_KEY = 0x7477_696E_6D69_67  # b"twinmig"

_metadata = MetaData()
_migrations = Table(
    MIGRATIONS_TABLE,
    _metadata,
    Column("name", String(200), primary_key=True),
    Column("applied_at", DateTime(timezone=True), nullable=False),
)


@dataclass(frozen=True, slots=True)
class Migration:
    """One schema step. `apply` runs inside the runner's transaction: it must not commit,
    and should use explicit DDL (its own `Table`s or `text()`), never the current models."""

    name: str
    apply: Callable[[Connection], None]


def run_migrations(engine: Engine, migrations: Sequence[Migration]) -> list[str]:
    """Apply the migrations of `migrations` not yet recorded, in order, each in its own
    transaction; return the names applied by this call (empty when up to date).

    A migration that raises rolls back alone and the error propagates; the ones before it
    stay applied and recorded."""
    names = [m.name for m in migrations]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"migration names must be unique; repeated: {', '.join(duplicates)}")
    if engine.dialect.name == "postgresql":
        return _run_postgres(engine, migrations)
    if engine.dialect.name == "sqlite":
        return _run_sqlite(engine, migrations)
    return _run_unlocked(engine, migrations)


def _applied(conn: Connection) -> set[str]:
    return set(conn.scalars(select(_migrations.c.name)))


def _record(conn: Connection, name: str) -> None:
    conn.execute(_migrations.insert().values(name=name, applied_at=datetime.now(UTC)))


def _run_postgres(engine: Engine, migrations: Sequence[Migration]) -> list[str]:
    applied_now: list[str] = []
    with engine.connect() as conn:
        # A session-level lock, held across the per-migration transactions below.
        conn.execute(select(func.pg_advisory_lock(_PG_LOCK_KEY)))
        conn.commit()
        try:
            with conn.begin():
                _migrations.create(conn, checkfirst=True)
                done = _applied(conn)
            for migration in migrations:
                if migration.name in done:
                    continue
                with conn.begin():
                    migration.apply(conn)
                    _record(conn, migration.name)
                applied_now.append(migration.name)
        finally:
            _release_pg_lock(conn)
    return applied_now


def _release_pg_lock(conn: Connection) -> None:
    try:
        if conn.in_transaction():
            conn.rollback()
        conn.execute(select(func.pg_advisory_unlock(_PG_LOCK_KEY)))
        conn.commit()
    except Exception:
        # The server drops a session's locks with the session: discard the connection
        # rather than return it to the pool still holding the lock. Whatever failed
        # before (if anything) is the error worth raising.
        conn.invalidate()


def _run_sqlite(engine: Engine, migrations: Sequence[Migration]) -> list[str]:
    # Lock-free look first: opening an up-to-date database takes no write lock.
    with engine.connect() as conn:
        done = _applied(conn) if inspect(conn).has_table(MIGRATIONS_TABLE) else set()
    applied_now: list[str] = []
    for migration in migrations:
        if migration.name in done:
            continue
        with engine.connect() as conn:
            # The driver's own transaction handling would autocommit DDL; drive it by hand.
            conn.execution_options(isolation_level="AUTOCOMMIT")
            conn.exec_driver_sql("BEGIN IMMEDIATE")
            try:
                _migrations.create(conn, checkfirst=True)
                if migration.name not in _applied(conn):  # another process may have won
                    migration.apply(conn)
                    _record(conn, migration.name)
                    applied_now.append(migration.name)
                conn.exec_driver_sql("COMMIT")
            except BaseException:
                with contextlib.suppress(Exception):  # keep the error that got us here
                    conn.exec_driver_sql("ROLLBACK")
                raise
    return applied_now


def _run_unlocked(engine: Engine, migrations: Sequence[Migration]) -> list[str]:
    """Other backends: no cross-process lock; a concurrent runner loses on the primary key
    of `twin_migrations` and rolls back (where the backend has transactional DDL)."""
    with engine.begin() as conn:
        _migrations.create(conn, checkfirst=True)
        done = _applied(conn)
    applied_now: list[str] = []
    for migration in migrations:
        if migration.name in done:
            continue
        with engine.begin() as conn:
            migration.apply(conn)
            _record(conn, migration.name)
        applied_now.append(migration.name)
    return applied_now
