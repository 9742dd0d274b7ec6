"""What the reliability tests share."""

from __future__ import annotations

import threading
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager

from bot.chat.handler import ChatHandler
from bot.chat.replies import ChatUser, Say
from bot.twin import Twin
from ingest.warehouse.store import Warehouse
from model.openai_compat import OpenAIGenerator
from tests.chat_support import chat_handler
from tests.model.openai_emulator import OpenAIEmulator


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


@contextmanager
def write_lock_held(url: str) -> Iterator[Callable[[], None]]:
    """Another process's writer holds the warehouse's write lock (in a thread here) until
    the `release` handed out is called, or the block ends."""
    taken, release = threading.Event(), threading.Event()

    def hold() -> None:
        with Warehouse(url) as other, other.transaction():
            taken.set()
            release.wait(timeout=120)

    holder = threading.Thread(target=hold)
    holder.start()
    taken.wait(timeout=60)
    try:
        yield release.set
    finally:
        release.set()
        holder.join()


@asynccontextmanager
async def chat(url: str = "") -> AsyncIterator[tuple[ChatHandler, Twin]]:
    """A real chat handler on this home (and warehouse `url`), its model an OpenAI-style
    server on loopback (no model is loaded); the owner is telegram user 42."""
    emulator = OpenAIEmulator(models=("twin",))
    await emulator.start()
    try:
        generator = await OpenAIGenerator.connect(emulator.url, "twin", context_length=4096)
        overrides = {"telegram.allowed_user_ids": "[42]"} | ({"warehouse.url": url} if url else {})
        async with chat_handler(generator, overrides, ingest_sample=False) as pair:
            yield pair
        await generator.aclose()
    finally:
        await emulator.close()


OWNER = ChatUser("telegram", "42")


async def chat_says(url: str, message: str, *, then: Callable[[], None] = lambda: None) -> str:
    """What the chat handler says back to `message`; `then()` runs after its answer."""
    async with chat(url) as (handler, _):
        outs = [out async for out in handler.handle(OWNER, message)]
        then()
    return "\n".join(o.text for o in outs if isinstance(o, Say))
