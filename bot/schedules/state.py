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


MIGRATIONS = (Migration("scheduler.0001_lease_failures", _0001_lease_failures),)


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
        now = datetime.now(UTC)
        with self._writer.begin() as conn:
            current = self._lease(conn)
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
    def _lease(conn: Connection) -> Lease | None:
        row = conn.execute(sa.select(lease).where(lease.c.name == _LEASE)).first()
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
