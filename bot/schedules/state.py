"""What the scheduler keeps besides APScheduler's own job table, in the warehouse database:

- `scheduler_lease`: which process runs the scheduler for this database. One at a time:
  a second `serve` against the same database sees a live lease and runs without
  schedules, saying why. The holder renews it every `HEARTBEAT`; a lease not renewed for
  `LEASE_TTL` (its process was killed) may be taken over.
- `job_failures`: consecutive failures per job, and whether the owner has been told, so a
  job failing run after run is reported once, not every run.
"""

from __future__ import annotations

import os
import secrets
import socket
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy import Connection, Engine
from sqlalchemy import exc as sa_exc

from ingest.warehouse.migrations import Migration, run_migrations
from ingest.warehouse.schema import UTCDateTime

__all__ = ["HEARTBEAT", "LEASE_TTL", "Failure", "Lease", "SchedulerState"]

HEARTBEAT = timedelta(seconds=30)
LEASE_TTL = timedelta(seconds=90)
_LEASE = "scheduler"

_md = sa.MetaData()
lease = sa.Table(
    "scheduler_lease",
    _md,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("holder", sa.Text, nullable=False),
    sa.Column("acquired_at", UTCDateTime, nullable=False),
    sa.Column("renewed_at", UTCDateTime, nullable=False),
)
failures = sa.Table(
    "job_failures",
    _md,
    sa.Column("job_id", sa.String(191), primary_key=True),
    sa.Column("failures", sa.Integer, nullable=False),
    sa.Column("last_error", sa.Text, nullable=False),
    sa.Column("last_failed_at", UTCDateTime, nullable=False),
    sa.Column("reported", sa.Boolean, nullable=False),
)


def _0001_lease_failures(conn: Connection) -> None:
    md = sa.MetaData()
    stamp = sa.DateTime(timezone=True)
    sa.Table(
        "scheduler_lease",
        md,
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("holder", sa.Text, nullable=False),
        sa.Column("acquired_at", stamp, nullable=False),
        sa.Column("renewed_at", stamp, nullable=False),
    )
    sa.Table(
        "job_failures",
        md,
        sa.Column("job_id", sa.String(191), primary_key=True),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.Column("last_error", sa.Text, nullable=False),
        sa.Column("last_failed_at", stamp, nullable=False),
        sa.Column("reported", sa.Boolean, nullable=False),
    )
    md.create_all(conn, checkfirst=False)


def _0002_apscheduler_jobs(conn: Connection) -> None:
    # APScheduler creates its job table when it starts, checking first: two processes
    # starting on a new database both found it missing and one failed creating it. Made
    # here, under the migration lock, it is always there before a scheduler starts.
    md = sa.MetaData()
    sa.Table(
        "apscheduler_jobs",
        md,
        sa.Column("id", sa.Unicode(191), primary_key=True),
        sa.Column("next_run_time", sa.Float(25), index=True),
        sa.Column("job_state", sa.LargeBinary, nullable=False),
    )
    md.create_all(conn, checkfirst=True)  # APScheduler made it already in older databases


MIGRATIONS = (
    Migration("scheduler.0001_lease_failures", _0001_lease_failures),
    Migration("scheduler.0002_apscheduler_jobs", _0002_apscheduler_jobs),
)


@dataclass(frozen=True, slots=True)
class Lease:
    holder: str
    acquired_at: datetime
    renewed_at: datetime

    def live(self, now: datetime) -> bool:
        return now - self.renewed_at < LEASE_TTL


@dataclass(frozen=True, slots=True)
class Failure:
    job_id: str
    failures: int
    last_error: str
    reported: bool


def this_process() -> str:
    """Who holds a lease: the process, and which of its schedulers (tests run several)."""
    return f"pid {os.getpid()} on {socket.gethostname()}, {secrets.token_hex(3)}"


class SchedulerState:
    def __init__(self, engine: Engine, writer: Engine | None = None) -> None:
        self._engine = engine
        self._writer = writer or engine
        run_migrations(engine, MIGRATIONS)

    # --- the lease ----------------------------------------------------------------------

    def acquire(self, holder: str) -> Lease | None:
        """Take the lease for `holder`; None when another live process holds it."""
        try:
            return self._acquire(holder)
        except sa_exc.IntegrityError:  # another process took the first lease just now
            return self._acquire(holder)

    def _acquire(self, holder: str) -> Lease | None:
        now = datetime.now(UTC)
        with self._writer.begin() as conn:
            current = self._lease(conn, lock=True)
            if current is not None and current.holder != holder and current.live(now):
                return current
            values = {"holder": holder, "acquired_at": now, "renewed_at": now}
            if current is None:
                conn.execute(sa.insert(lease).values(name=_LEASE, **values))
            else:
                conn.execute(sa.update(lease).where(lease.c.name == _LEASE).values(values))
        return None

    def renew(self, holder: str) -> bool:
        """Renew the lease; False when `holder` no longer holds it (it was taken over)."""
        with self._writer.begin() as conn:
            result = conn.execute(
                sa.update(lease)
                .where(lease.c.name == _LEASE, lease.c.holder == holder)
                .values(renewed_at=datetime.now(UTC))
            )
            return bool(result.rowcount)

    def release(self, holder: str) -> None:
        with self._writer.begin() as conn:
            conn.execute(sa.delete(lease).where(lease.c.name == _LEASE, lease.c.holder == holder))

    def holder(self) -> Lease | None:
        """The live lease, if any."""
        with self._engine.connect() as conn:
            current = self._lease(conn)
        return current if current is not None and current.live(datetime.now(UTC)) else None

    @staticmethod
    def _lease(conn: Connection, *, lock: bool = False) -> Lease | None:
        """The lease row; `lock`: held until the transaction ends (PostgreSQL: two
        processes taking over an expired lease take turns; SQLite's writer already does)."""
        query = sa.select(lease).where(lease.c.name == _LEASE)
        row = conn.execute(query.with_for_update() if lock else query).first()
        if row is None:
            return None
        return Lease(row.holder, row.acquired_at, row.renewed_at)

    # --- failures -----------------------------------------------------------------------

    def failed(self, job_id: str, error: str) -> Failure:
        """Count one more consecutive failure of `job_id`."""
        now = datetime.now(UTC)
        with self._writer.begin() as conn:
            row = conn.execute(sa.select(failures).where(failures.c.job_id == job_id)).first()
            if row is None:
                conn.execute(
                    sa.insert(failures).values(
                        job_id=job_id,
                        failures=1,
                        last_error=error,
                        last_failed_at=now,
                        reported=False,
                    )
                )
                return Failure(job_id, 1, error, False)
            conn.execute(
                sa.update(failures)
                .where(failures.c.job_id == job_id)
                .values(failures=row.failures + 1, last_error=error, last_failed_at=now)
            )
            return Failure(job_id, row.failures + 1, error, row.reported)

    def mark_reported(self, job_id: str) -> None:
        with self._writer.begin() as conn:
            conn.execute(
                sa.update(failures).where(failures.c.job_id == job_id).values(reported=True)
            )

    def succeeded(self, job_id: str) -> Failure | None:
        """Clear `job_id`'s failures; what they were (None when it had none)."""
        with self._writer.begin() as conn:
            row = conn.execute(sa.select(failures).where(failures.c.job_id == job_id)).first()
            if row is None:
                return None
            conn.execute(sa.delete(failures).where(failures.c.job_id == job_id))
            return Failure(row.job_id, row.failures, row.last_error, row.reported)

    def failures(self) -> dict[str, Failure]:
        with self._engine.connect() as conn:
            rows = conn.execute(sa.select(failures)).all()
        return {r.job_id: Failure(r.job_id, r.failures, r.last_error, r.reported) for r in rows}
