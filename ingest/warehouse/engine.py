"""Engines for the warehouse: URL parsing, password masking, and the SQLite settings that
make one file safe to share between threads and processes."""

from __future__ import annotations

import errno
import functools
import re
import sqlite3
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import URL, Connection, Engine, event
from sqlalchemy import exc as sa_exc

from core.errors import StorageError
from core.faults import advice, error_number, first_line, folder_problem, nearly_full

# How long a write waits for another process's lock before it fails (warehouse.lock_timeout).
DEFAULT_LOCK_TIMEOUT = 30.0
_URL_HELP = "use sqlite:///PATH/warehouse.db or postgresql://USER:PASSWORD@HOST:PORT/DBNAME"


def mask_url(url: str) -> str:
    """`url` with its password replaced by ***, for messages and logs."""
    try:
        return sa.make_url(url).render_as_string(hide_password=True)
    except (sa_exc.ArgumentError, ValueError):
        return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)


def create_engine(
    url: str, safe_url: str, lock_timeout: float = DEFAULT_LOCK_TIMEOUT
) -> tuple[URL, Engine]:
    try:
        parsed = sa.make_url(url)
    except (sa_exc.ArgumentError, ValueError) as exc:
        raise StorageError(f"{safe_url!r} is not a database URL ({exc}); {_URL_HELP}") from None
    backend = parsed.get_backend_name()
    try:
        if backend in ("postgresql", "postgres"):
            if parsed.drivername in ("postgresql", "postgres"):
                parsed = parsed.set(drivername="postgresql+psycopg")
            timeout = {} if "connect_timeout" in parsed.query else {"connect_timeout": 10}
            return parsed, sa.create_engine(parsed, pool_pre_ping=True, connect_args=timeout)
        if backend == "sqlite" and parsed.database not in (None, "", ":memory:"):
            return parsed, _sqlite_engine(parsed, int(lock_timeout * 1000))
    except (ImportError, sa_exc.NoSuchModuleError) as exc:
        raise StorageError(
            f"warehouse {safe_url}: its database driver is not installed ({exc}); "
            "for PostgreSQL: pip install 'llm-twin[postgres]'"
        ) from exc
    except OSError as exc:
        folder = Path(str(parsed.database)).expanduser().parent
        raise StorageError(
            f"warehouse {safe_url}: creating its folder {folder} failed ({first_line(exc)});"
            f" {advice(error_number(exc), folder)}"
        ) from exc
    what = "in-memory database" if backend == "sqlite" else f"database {backend!r}"
    raise StorageError(f"warehouse {safe_url}: unsupported {what}; {_URL_HELP}")


def _sqlite_engine(url: URL, busy_ms: int) -> Engine:
    assert url.database is not None
    if not url.database.startswith("file:"):  # a plain path, not a sqlite URI
        path = Path(url.database).expanduser()
        path.parent.mkdir(parents=True, exist_ok=True)
        url = url.set(database=str(path))
    engine = sa.create_engine(url)  # file databases: a thread-safe QueuePool
    event.listen(engine, "connect", functools.partial(_sqlite_connect, busy_ms=busy_ms))
    event.listen(engine, "checkout", _sqlite_checkout)
    event.listen(engine, "begin", _sqlite_begin)
    return engine


def _sqlite_connect(dbapi_conn: Any, _record: Any, *, busy_ms: int) -> None:
    # We emit BEGIN ourselves (see _sqlite_begin): the sqlite3 module's own handling
    # would autocommit DDL and never begin a transaction for a SELECT.
    dbapi_conn.isolation_level = None
    cursor = dbapi_conn.cursor()
    cursor.execute(f"PRAGMA busy_timeout = {busy_ms}")
    cursor.execute("PRAGMA foreign_keys = ON")
    _enable_wal(cursor, busy_ms)  # readers never block the writer
    cursor.execute("PRAGMA synchronous = NORMAL")  # durable enough under WAL, much faster
    cursor.close()


def _enable_wal(cursor: Any, busy_ms: int) -> None:
    # Switching a new file to WAL needs an exclusive lock, and SQLite reports a conflict
    # there at once instead of waiting on the busy timeout: retry until it would have.
    deadline = time.monotonic() + busy_ms / 1000
    delay = 0.002
    while True:
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.1)


def _sqlite_checkout(dbapi_conn: Any, _record: Any, _proxy: Any) -> None:
    dbapi_conn.isolation_level = None  # the pool's isolation-level reset sets it back


def _sqlite_begin(conn: Connection) -> None:
    options = conn.get_execution_options()
    if options.get("isolation_level") == "AUTOCOMMIT":
        return  # the caller drives the transaction (the migration runner does)
    # A write transaction takes the write lock up front: a deferred one that reads first
    # could fail to upgrade (SQLITE_BUSY, which the busy timeout does not retry).
    conn.exec_driver_sql("BEGIN IMMEDIATE" if options.get("twin_write") else "BEGIN")


def explain(
    safe_url: str, url: URL, engine: Engine, action: str, exc: Exception, lock_timeout: float
) -> str:
    """One line for a driver error: what failed, the driver's first line (password
    masked), and what to do about it."""
    orig = getattr(exc, "orig", None) or exc
    reason = (str(orig).strip().splitlines() or [type(orig).__name__])[0]
    if url.password:
        reason = reason.replace(str(url.password), "***")
    lowered = reason.lower()
    if "locked" in lowered or "lock timeout" in lowered:
        check = (
            f"another process held the warehouse's write lock for more than {lock_timeout:g} s"
            " (another llm-twin writing, or a program with the database open): let it finish"
            " or stop it, then run this again (warehouse.lock_timeout sets how long to wait)"
        )
    elif engine.dialect.name == "sqlite":
        database = Path(str(url.database))
        if "full" in lowered or ("i/o error" in lowered and nearly_full(database)):
            check = advice(errno.ENOSPC, database.parent)
        else:
            check = (
                folder_problem(database, folder=False)
                or folder_problem(database.parent)
                or "check that its folder is writable and that no other program locks the file"
            )
    else:
        check = (
            "check that the server is running and reachable from here, and that the user, "
            "password and database name in the URL (the warehouse.url setting) are right"
        )
    return f"warehouse {safe_url}: {action} failed ({reason}); {check}"
