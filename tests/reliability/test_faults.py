"""Faults a new user's machine meets, each one line naming the path or server and what to
do, at the CLI (a real `llm-twin` process) and in chat; the stores agree afterwards and
the next run completes. A full disk is a real 512 KB tmpfs; a read-only or unreadable
home is chmod (as root, the CLI runs without CAP_DAC_OVERRIDE, via setpriv, so modes
apply); a database locked past its timeout is another
writer holding the lock; a PostgreSQL that goes away is a real server killed mid-ingest;
a Weaviate that goes away (no server here) is the real client's errors, mapped by the
real backend, raised mid-ingest by an index that stops answering."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import psycopg
import pytest

from bot.config import load_config
from bot.twin import Twin
from ingest.healing import compare
from retrieval.types import Chunk
from tests.ingest.parts import Delegate
from tests.postgres_server import PostgresServer, PostgresUnavailable
from tests.reliability.consistency import assert_consistent, fault
from tests.reliability.stores import OWNER, chat, write_lock_held

pytestmark = pytest.mark.slow

NOTES = Path(__file__).resolve().parents[1] / "fixtures" / "simonw_til"  # 41 notes
SAMPLE = Path(__file__).resolve().parents[2] / "sample"
SMALL_BATCHES = ("--set", "index.write_batch_chunks=32")  # many commits, each needing room


def cli(home: Path, *args: str, url: str = "", drop_caps: bool = False) -> tuple[int, str]:
    """`llm-twin ARGS` in its own process on `home`: exit status, stdout and stderr."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TWIN_")}
    env |= {"TWIN_HOME": str(home), "TWIN_LOCAL": "1"}
    if url:
        env["TWIN_WAREHOUSE__URL"] = url
    command = [sys.executable, "-m", "bot", *args]
    if drop_caps and os.geteuid() == 0:  # root would ignore the modes under test
        command = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", *command]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    return done.returncode, done.stdout + done.stderr


def one_line(output: str, *needles: str) -> str:
    """The output's error line (an `error:` or a failed input's `✗`), checked to be the
    only one, to hold every needle, and to come with no traceback."""
    assert "Traceback" not in output, output
    errors = [line for line in output.splitlines() if line.startswith(("error: ", "✗ "))]
    assert len(errors) == 1, output
    for needle in needles:
        assert needle in errors[0], errors[0]
    return errors[0]


def in_step(home: Path, url: str = "", documents: int | None = None, *, label: str = "") -> None:
    """The stores agree, after what the next open mends (tests/reliability/consistency.py)."""
    checked = assert_consistent(home, url, label=label)
    if documents is not None:
        assert checked.documents == documents


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Path]:
    """A real 512 KB file system (tmpfs); `resize(disk, …)` frees space on it."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(mount)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here (needs root): {done.stderr.decode()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def remount(mount: Path, options: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{options}", str(mount)], check=True)


def needs_modes() -> None:
    if os.geteuid() == 0 and shutil.which("setpriv") is None:
        pytest.skip("as root, chmod is ignored unless setpriv can drop CAP_DAC_OVERRIDE")


# --- a full disk --------------------------------------------------------------------------


def test_a_full_disk_is_one_line_and_the_next_run_completes(disk: Path) -> None:
    home = disk / "home"
    code, output = cli(home, *SMALL_BATCHES, "ingest", str(NOTES))
    assert code != 0
    one_line(output, "is full: free some space, then run it again", str(home))
    remount(disk, "size=64m")  # space freed
    in_step(home, label=fault("disk full during ingest"))
    code, output = cli(home, *SMALL_BATCHES, "ingest", str(NOTES))
    assert code == 0, output
    in_step(home, documents=41, label="disk full: ingest run again")


def test_a_full_disk_in_chat_is_one_line(disk: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = disk / "home"
    monkeypatch.setenv("TWIN_HOME", str(home))

    async def rate_while_full() -> tuple[str, str]:
        async with chat() as (handler, twin):
            draft = twin.drafts.save(draft_record())
            fill(disk / "filler")  # the disk fills while the bot runs
            full = [o async for o in handler.feedback(OWNER, draft.id, "up")]
            (disk / "filler").unlink()
            freed = [o async for o in handler.feedback(OWNER, draft.id, "up")]
        return texts(full), texts(freed)

    full, freed = asyncio.run(rate_while_full())
    assert full.startswith("⚠️ warehouse sqlite:///") and "\n" not in full
    assert f"the disk holding {home.resolve()} is full: free some space" in full
    assert freed == "Noted 👍"


def texts(outs: Sequence[Any]) -> str:
    return "\n".join(getattr(o, "text", "") for o in outs)


def fill(path: Path) -> None:
    """Take the rest of the disk."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT)
    try:
        while os.write(fd, b"\0" * 4096):
            pass
    except OSError:
        pass
    finally:
        os.close(fd)


def draft_record() -> Any:
    from model.records import DraftRecord

    return DraftRecord("why evals", "post", "Evals matter.", "stop", "test", "m", "1")


# --- a read-only, unreadable or missing home ----------------------------------------------


def test_a_read_only_home_is_one_line(tmp_path: Path) -> None:
    needs_modes()
    home = tmp_path / "home"
    assert cli(home, "ingest", str(SAMPLE))[0] == 0
    home.chmod(0o555)
    try:
        code, output = cli(home, "ingest", str(NOTES), drop_caps=True)
        assert code != 0
        one_line(output, f"this user cannot read and write {home}", "chmod u+rwx")
        code, output = cli(home, "forget", "file:///nowhere", drop_caps=True)
        one_line(output, str(home), "TWIN_HOME")
    finally:
        home.chmod(0o755)
    in_step(home, label=fault("read-only home during ingest"))
    assert cli(home, "ingest", str(NOTES))[0] == 0
    in_step(home, documents=47, label="read-only home: ingest run again")


def test_an_unreadable_or_missing_home_is_one_line(tmp_path: Path) -> None:
    needs_modes()
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o000)
    try:
        for args in (("sources",), ("search", "evals"), ("ingest", str(SAMPLE)), ("check",)):
            code, output = cli(locked, *args, drop_caps=True)
            assert code == 2, output
            one_line(output, f"TWIN_HOME {locked}: reading it failed", "chmod u+rwx")
        parent = tmp_path / "parent"
        parent.mkdir(mode=0o555)
        code, output = cli(parent / "home", "search", "evals", drop_caps=True)
        assert code == 2
        one_line(output, f"this user cannot read and write {parent}")
    finally:
        locked.chmod(0o755)
    code, output = cli(tmp_path / "new" / "home", "ingest", str(SAMPLE))
    assert code == 0, output  # a missing home that can be made is made


# --- a database locked past its timeout ---------------------------------------------------


def test_a_database_locked_past_its_timeout_is_one_line(
    twin_home: Path, warehouse_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = warehouse_url if warehouse_url.startswith("postgresql") else ""
    assert cli(twin_home, "ingest", str(SAMPLE), url=url)[0] == 0
    stored = Twin(load_config({"warehouse.url": url} if url else {}, home=twin_home, env={}))
    full_url = stored.config.warehouse_url
    stored.close()
    with write_lock_held(full_url):
        started = time.monotonic()
        code, output = cli(
            twin_home, "--set", "warehouse.lock_timeout=1", "ingest", str(NOTES), url=url
        )
        waited = time.monotonic() - started
    assert code != 0
    one_line(output, "held the warehouse's write lock for more than 1 s", "let it finish")
    assert waited < 60  # one wait, not one per batch

    monkeypatch.setenv("TWIN_WAREHOUSE__LOCK_TIMEOUT", "1")

    async def forget_while_locked() -> str:
        async with chat(full_url) as (handler, _):
            with write_lock_held(full_url):
                uri = (SAMPLE / "03-on-call.md").as_uri()
                return texts([o async for o in handler.handle(OWNER, f"forget {uri}")])

    said = asyncio.run(forget_while_locked())
    assert said.startswith("⚠️ ") and "write lock for more than 1 s" in said and "\n" not in said
    in_step(twin_home, url, label=fault("database locked past its timeout"))
    code, output = cli(twin_home, "ingest", str(NOTES), url=url)
    assert code == 0, output
    in_step(twin_home, url, documents=47, label="locked database: ingest run again")


# --- a PostgreSQL server that goes away ---------------------------------------------------


@pytest.fixture
def own_postgres() -> Iterator[PostgresServer]:
    """A server of this test's own, to kill."""
    try:
        server = PostgresServer()
        server.start()
    except PostgresUnavailable as exc:
        pytest.skip(f"no PostgreSQL server: {exc}")
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.postgres
def test_a_postgres_server_killed_mid_ingest_is_one_line(
    own_postgres: PostgresServer, tmp_path: Path, twin_home: Path
) -> None:
    home, url = tmp_path / "home", own_postgres.url
    env = {k: v for k, v in os.environ.items() if not k.startswith("TWIN_")}
    env |= {"TWIN_HOME": str(home), "TWIN_LOCAL": "1", "TWIN_WAREHOUSE__URL": url}
    ingest = subprocess.Popen(
        [sys.executable, "-m", "bot", *SMALL_BATCHES, "ingest", str(NOTES)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    while stored_documents(url) < 5 and ingest.poll() is None:
        time.sleep(0.2)
    own_postgres.kill()
    output, _ = ingest.communicate(timeout=300)
    assert ingest.returncode != 0, output
    one_line(output, f"warehouse {url}", "check that the server is running")

    own_postgres.restart()
    in_step(home, url, label=fault("PostgreSQL killed mid-ingest"))  # what it left, mended

    async def sources_while_down() -> str:
        async with chat(url) as (handler, _):
            own_postgres.kill()
            try:
                outs = [o async for o in handler.handle(OWNER, "sources")]
            finally:
                own_postgres.restart()
        return "\n".join(getattr(o, "text", "") for o in outs)

    said = asyncio.run(sources_while_down())
    assert said.startswith(f"⚠️ warehouse {url}: listing sources failed") and "\n" not in said
    code, output = cli(home, *SMALL_BATCHES, "ingest", str(NOTES), url=url)
    assert code == 0, output
    in_step(home, url, documents=41, label="PostgreSQL back: ingest run again")


def stored_documents(url: str) -> int:
    try:
        with psycopg.connect(url, connect_timeout=2) as conn:
            row = conn.execute("SELECT count(*) FROM documents").fetchone()
            return int(row[0]) if row else 0
    except psycopg.Error:
        return 0


# --- a Weaviate server that goes away -----------------------------------------------------


class VanishingServer(Delegate):
    """The index, until the Weaviate server behind it goes away after `writes` writes:
    then every call fails as the real backend reports a dropped connection."""

    def __init__(self, real: Any, writes: int) -> None:
        super().__init__(real)
        self.writes = writes

    def replace_documents(self, chunks_by_document: Mapping[str, Sequence[Chunk]]) -> None:
        self.writes -= 1
        if self.writes < 0:
            self._gone("writing objects")
        self.real.replace_documents(chunks_by_document)

    def hybrid_search(self, *args: Any, **kwargs: Any) -> Any:
        if self.writes <= 0:
            self._gone("searching")
        return self.real.hybrid_search(*args, **kwargs)

    def _gone(self, action: str) -> None:
        from weaviate.exceptions import WeaviateConnectionError

        from retrieval.weaviate import WeaviateIndex
        from retrieval.weaviate_collection import client_errors

        index = WeaviateIndex.__new__(WeaviateIndex)  # its error mapping, no connection
        index.url, index._errors = "http://weaviate.internal:8080", client_errors()
        with index._talking(action):
            raise WeaviateConnectionError("Connection to Weaviate failed.\nDetails: EOF")


def test_a_weaviate_server_that_goes_away_mid_ingest_is_one_line(twin_home: Path) -> None:
    pytest.importorskip("weaviate")
    twin = Twin(load_config(home=twin_home, env={}))
    try:
        index = twin.index
        vanishing = VanishingServer(index, writes=2)

        async def ingest() -> list[Any]:
            from ingest.fetcher import Fetcher
            from tests.ingest.parts import ingestor

            async with Fetcher(twin.config.ingest) as fetcher:
                parts = ingestor(twin, fetcher, index=vanishing, batch_chunks=32)
                return await parts.ingest([str(NOTES)], allow_paths=True)

        [result] = asyncio.run(ingest())
        assert result.error is not None and "\n" not in result.error
        assert "the Weaviate server at http://weaviate.internal:8080 failed while writing" in (
            result.error
        )
        assert 0 < twin.warehouse.count_documents() < 41  # what was written before stays
        assert compare(twin.warehouse, index).ok  # and nothing half-done
        vanishing.writes = 1_000  # the server is back
        [again] = asyncio.run(ingest())
        assert again.ok, again.error
        assert compare(twin.warehouse, index).documents == 41
    finally:
        twin.close()


def test_a_weaviate_server_that_is_down_or_goes_away_is_one_line_at_the_cli_and_in_chat(
    twin_home: Path,
) -> None:
    pytest.importorskip("weaviate")
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    weaviate = ("--set", "index.backend=weaviate", "--set", f"index.weaviate_url={url}")
    code, output = cli(twin_home, *weaviate, "search", "evals")
    assert code == 2
    one_line(output, f"cannot reach the Weaviate server at {url}", "index.weaviate_url")

    async def search_after_it_went_away() -> str:
        async with chat() as (handler, twin):
            twin._index = VanishingServer(twin.index, writes=0)  # type: ignore[assignment]
            outs = [o async for o in handler.handle(OWNER, "search evals")]
        return "\n".join(getattr(o, "text", "") for o in outs)

    said = asyncio.run(search_after_it_went_away())
    assert said.startswith("⚠️ the Weaviate server at http://weaviate.internal:8080 failed")
    assert "\n" not in said
