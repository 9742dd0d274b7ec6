"""Which periods each digest destination was sent, so no period is posted twice.

One table, `digests`, in the warehouse's database (migration `schedules.0001_digests`): a
row per claimed period of a destination, with its status: "sending" (claimed, not yet
known to be posted), "sent" (posted, with the suggested draft's id) or "empty" (nothing
was stored in the period, so nothing was posted).

At most once, across crashes: a job first `claim`s the period ending now, which commits a
"sending" row before anything is posted, and posts only if the claim was granted. A claim
is refused when the destination already has a claim for a period ending at or after it,
whatever its status, so a process restarted after posting (or while posting) never posts
the same period again. The price: a process killed between its claim and the post loses
that digest, and the next one starts after the lost period; for a digest, a missed post
is better than a duplicate. A row still "sending" long after its `claimed_at` is how that
shows.

Claims are atomic across threads and processes: on SQLite the write transaction holds the
database's write lock from its start, on PostgreSQL a per-destination advisory lock is
taken first; either way the check and the insert run with no other claim in between.
"""

from __future__ import annotations

import hashlib
import os
import socket
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

import sqlalchemy as sa
from sqlalchemy import Connection

from ingest.warehouse.migrations import Migration, run_migrations
from ingest.warehouse.schema import UTCDateTime, as_utc
from ingest.warehouse.store import Warehouse

__all__ = ["DIGEST_MIGRATIONS", "Claim", "DigestLog", "DigestStatus", "LoggedDigest"]

DigestStatus = Literal["sending", "sent", "empty"]
FIRST_WINDOW = timedelta(days=7)
_DESTINATION_CHARS = 200

_md = sa.MetaData()
digests = sa.Table(
    "digests",
    _md,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("destination", sa.String(_DESTINATION_CHARS), nullable=False),
    sa.Column("period_start", UTCDateTime, nullable=False),
    sa.Column("period_end", UTCDateTime, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("claimed_at", UTCDateTime, nullable=False),
    sa.Column("finished_at", UTCDateTime, nullable=True),
    sa.Column("draft_id", sa.String(32), nullable=True),
    sa.Column("holder", sa.Text, nullable=False),
)


@dataclass(frozen=True, slots=True)
class Claim:
    """A granted claim: post the digest of (`period_start`, `period_end`], then say how
    it went with `DigestLog.sent` or `DigestLog.empty`."""

    id: int
    destination: str
    period_start: datetime
    period_end: datetime
    claimed_at: datetime


@dataclass(frozen=True, slots=True)
class LoggedDigest:
    id: int
    destination: str
    period_start: datetime
    period_end: datetime
    status: DigestStatus
    claimed_at: datetime
    finished_at: datetime | None
    draft_id: str | None
    holder: str  # "host:pid" of the process that claimed it


class DigestLog:
    """The digests table (migrated on open). `first_window` is how far back a
    destination's first digest reaches."""

    def __init__(self, warehouse: Warehouse, *, first_window: timedelta = FIRST_WINDOW) -> None:
        if first_window <= timedelta(0):
            raise ValueError(f"first_window must be positive, not {first_window}")
        self._warehouse = warehouse
        self.first_window = first_window
        with warehouse.guard("creating the digests table"):
            run_migrations(warehouse.engine, DIGEST_MIGRATIONS)

    def claim(self, destination: str, period_end: datetime) -> Claim | None:
        """Record "sending" for `destination`'s period ending at `period_end` (starting
        where its last claimed period ended, else `first_window` before) and return the
        claim; None when it already has a claim for a period ending at or after it."""
        _check(destination)
        end = as_utc(period_end)
        claimed_at = datetime.now(UTC)
        with self._warehouse.guard("claiming a digest"), self._warehouse.writer.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_lock_key(destination))))
            last = _last_end(conn, destination)
            if last is not None and last >= end:
                return None
            start = last if last is not None else end - self.first_window
            row_id = conn.execute(
                digests.insert()
                .values(
                    destination=destination,
                    period_start=start,
                    period_end=end,
                    status="sending",
                    claimed_at=claimed_at,
                    holder=f"{socket.gethostname()}:{os.getpid()}",
                )
                .returning(digests.c.id)
            ).scalar_one()
        return Claim(int(row_id), destination, start, end, claimed_at)

    def sent(self, claim: Claim, draft_id: str | None) -> None:
        """The digest of `claim` was posted, with the suggested draft `draft_id` (None
        when it had none)."""
        self._finish(claim, "sent", draft_id)

    def empty(self, claim: Claim) -> None:
        """Nothing was stored in `claim`'s period, so nothing was posted."""
        self._finish(claim, "empty", None)

    def last_period_end(self, destination: str) -> datetime | None:
        """Where `destination`'s next digest starts: the end of its last claimed period
        (whatever became of it), or None before its first digest."""
        with self._warehouse.guard("reading the digests"), self._warehouse.engine.connect() as conn:
            return _last_end(conn, destination)

    def history(self, destination: str, limit: int = 20) -> list[LoggedDigest]:
        """`destination`'s digests, latest period first."""
        query = (
            digests.select()
            .where(digests.c.destination == destination)
            .order_by(digests.c.period_end.desc())
            .limit(limit)
        )
        with self._warehouse.guard("reading the digests"), self._warehouse.engine.connect() as conn:
            return [_logged(row) for row in conn.execute(query).mappings()]

    def _finish(self, claim: Claim, status: DigestStatus, draft_id: str | None) -> None:
        update = (
            sa.update(digests)
            .where(digests.c.id == claim.id, digests.c.status == "sending")
            .values(status=status, finished_at=datetime.now(UTC), draft_id=draft_id)
        )
        with self._warehouse.guard("recording a digest"), self._warehouse.writer.begin() as conn:
            if conn.execute(update).rowcount == 0:
                raise LookupError(
                    f"digest claim {claim.id} for {claim.destination} is not being sent "
                    "(already finished, or not from this database)"
                )


def _check(destination: str) -> None:
    if not destination.strip() or len(destination) > _DESTINATION_CHARS:
        raise ValueError(
            f"a digest destination is a non-empty name of at most {_DESTINATION_CHARS} "
            f'characters, e.g. "telegram:123" or "slack:C0123", not {destination!r}'
        )


def _last_end(conn: Connection, destination: str) -> datetime | None:
    query = (
        sa.select(digests.c.period_end)
        .where(digests.c.destination == destination)
        .order_by(digests.c.period_end.desc())
        .limit(1)
    )
    return conn.execute(query).scalar_one_or_none()


def _lock_key(destination: str) -> int:
    """A signed 64-bit advisory lock key for one destination's claims."""
    digest = hashlib.sha256(f"llm-twin digests {destination}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _logged(row: sa.RowMapping) -> LoggedDigest:
    return LoggedDigest(
        id=row["id"],
        destination=row["destination"],
        period_start=row["period_start"],
        period_end=row["period_end"],
        status=row["status"],
        claimed_at=row["claimed_at"],
        finished_at=row["finished_at"],
        draft_id=row["draft_id"],
        holder=row["holder"],
    )


# --- migrations: append only ------------------------------------------------------------


def _0001_digests(conn: Connection) -> None:
    md = sa.MetaData()
    stamp = sa.DateTime(timezone=True)
    sa.Table(
        "digests",
        md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("destination", sa.String(200), nullable=False),
        sa.Column("period_start", stamp, nullable=False),
        sa.Column("period_end", stamp, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("claimed_at", stamp, nullable=False),
        sa.Column("finished_at", stamp, nullable=True),
        sa.Column("draft_id", sa.String(32), nullable=True),
        sa.Column("holder", sa.Text, nullable=False),
        # Never two claims of one period; `claim` also refuses every earlier one.
        sa.UniqueConstraint("destination", "period_end", name="uq_digests_destination_end"),
        sa.CheckConstraint("status IN ('sending', 'sent', 'empty')", name="ck_digests_status"),
    )
    md.create_all(conn, checkfirst=False)


DIGEST_MIGRATIONS: tuple[Migration, ...] = (Migration("schedules.0001_digests", _0001_digests),)
