"""What a warehouse database holds, table by table, and which migrations made it: read by
`llm-twin check` and by backup and restore (which compare every table's rows)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy import Engine

from ingest.warehouse.migrations import MIGRATIONS_TABLE


@dataclass(frozen=True)
class AppliedMigration:
    name: str
    applied_at: datetime


def table_names(engine: Engine) -> list[str]:
    """Every table in the database (its default schema, or the URL's search path)."""
    return sorted(sa.inspect(engine).get_table_names())


def table_counts(engine: Engine) -> dict[str, int]:
    """Rows per table, for every table, read in one transaction (one snapshot)."""
    names = table_names(engine)
    with engine.connect() as conn:
        return {
            name: int(conn.scalar(sa.select(sa.func.count()).select_from(sa.table(name))) or 0)
            for name in names
        }


def migrations_applied(engine: Engine) -> list[AppliedMigration]:
    """The migrations recorded in the database, oldest first ([] for a new database)."""
    if MIGRATIONS_TABLE not in table_names(engine):
        return []
    table = sa.table(MIGRATIONS_TABLE, sa.column("name"), sa.column("applied_at"))
    with engine.connect() as conn:
        rows = conn.execute(sa.select(table.c.name, table.c.applied_at)).all()
    applied = [AppliedMigration(str(name), _aware(at)) for name, at in rows]
    return sorted(applied, key=lambda m: (m.applied_at, m.name))


def _aware(value: object) -> datetime:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)  # written as UTC
