"""What the reliability tests share."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def schema_url(admin_url: str, *, count: int = 1) -> Iterator[list[str]]:
    """`count` new, empty schemas on the server, each as a warehouse URL that puts it first
    on the search path; dropped afterwards."""
    import psycopg
    from psycopg import sql
    from sqlalchemy import make_url

    admin = make_url(admin_url).set(drivername="postgresql")
    conninfo = admin.render_as_string(hide_password=False)
    schemas = [f"twin_rel_{uuid.uuid4().hex[:16]}" for _ in range(count)]
    with psycopg.connect(conninfo, autocommit=True) as conn:
        for schema in schemas:
            conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    urls = []
    for schema in schemas:
        options = f"{admin.query.get('options', '')} -csearch_path={schema}".strip()
        urls.append(
            admin.update_query_dict({"options": options}).render_as_string(hide_password=False)
        )
    try:
        yield urls
    finally:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            for schema in schemas:
                conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
