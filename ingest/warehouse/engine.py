"""Engines for the warehouse: URL parsing, password masking, and the SQLite settings that
make one file safe to share between threads and processes."""

from __future__ import annotations

import re
import sqlite3
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import URL, Connection, Engine, event
from sqlalchemy import exc as sa_exc

from core.errors import StorageError

_SQLITE_BUSY_MS = 30_000
_URL_HELP = "use sqlite:///PATH/warehouse.db or postgresql://USER:PASSWORD@HOST:PORT/DBNAME"


def mask_url(url: str) -> str:
    """`url` with its password replaced by ***, for messages and logs."""
    try:
        return sa.make_url(url).render_as_string(hide_password=True)
    except (sa_exc.ArgumentError, ValueError):
        return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)


def create_engine(url: str, safe_url: str) -> tuple[URL, Engine]:
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
            return parsed, _sqlite_engine(parsed)
    except (ImportError, sa_exc.NoSuchModuleError) as exc:
        raise StorageError(
            f"warehouse {safe_url}: its database driver is not installed ({exc}); "
            "for PostgreSQL: pip install 'llm-twin[postgres]'"
        ) from exc
    except OSError as exc:
        raise StorageError(f"warehouse {safe_url}: cannot create its folder ({exc})") from exc
    what = "in-memory database" if backend == "sqlite" else f"database {backend!r}"
    raise StorageError(f"warehouse {safe_url}: unsupported {what}; {_URL_HELP}")


def _sqlite_engine(url: URL) -> Engine:
    assert url.database is not None
    if not url.database.startswith("file:"):  # a plain path, not a sqlite URI
        path = Path(url.database).expanduser()
        path.parent.mkdir(parents=True, exist_ok=True)
        url = url.set(database=str(path))
    engine = sa.create_engine(url)  # file databases: a thread-safe QueuePool
    event.listen(engine, "connect", _sqlite_connect)
    event.listen(engine, "checkout", _sqlite_checkout)
    event.listen(engine, "begin", _sqlite_begin)
    return engine


def _sqlite_connect(dbapi_conn: Any, _record: Any) -> None:
    # We emit BEGIN ourselves (see _sqlite_begin): the sqlite3 module's own handling
    # would autocommit DDL and never begin a transaction for a SELECT.
    dbapi_conn.isolation_level = None
    cursor = dbapi_conn.cursor()
    cursor.execute(f"PRAGMA busy_timeout = {_SQLITE_BUSY_MS}")
    cursor.execute("PRAGMA foreign_keys = ON")
    _enable_wal(cursor)  # readers never block the writer
    cursor.execute("PRAGMA synchronous = NORMAL")  # durable enough under WAL, much faster
    cursor.close()


def _enable_wal(cursor: Any) -> None:
    # Switching a new file to WAL needs an exclusive lock, and SQLite reports a conflict
    # there at once instead of waiting on the busy timeout: retry until it would have.
    deadline = time.monotonic() + _SQLITE_BUSY_MS / 1000
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
