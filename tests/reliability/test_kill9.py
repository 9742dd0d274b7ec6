"""kill -9 at several points of each job that writes: an ingest of real notes, a recrawl
of changed pages, a draft, a training run and a digest. Each kill is a real SIGKILL of a
real child process at a moment the test can see (a count of stored documents, a line of
output, a request reaching the loopback server or the model emulator); after each, the one
consistency check (tests/reliability/consistency.py) runs, the job runs again to the
end, and the check runs once more. The faults and checks are tallied at the end of the
session (tests/reliability/conftest.py)."""

from __future__ import annotations

import asyncio
import re
import shutil
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from aiohttp import web

from bot.config import load_config
from bot.schedules.digest_log import DigestLog, digests
from bot.twin import Twin
from ingest.warehouse.schema import documents
from tests.http_server import FIXTURES, ThreadedServer
from tests.model.openai_emulator import Script, emulator_thread
from tests.reliability.children import Child, lines, stored_documents
from tests.reliability.consistency import assert_consistent, fault

pytestmark = pytest.mark.slow

CORPUS = FIXTURES.parent / "corpora" / "simonw-til"  # Simon Willison's TIL notes
SAMPLE = Path(__file__).resolve().parents[2] / "sample"  # 6 posts by Sam Rivera
NOTES = 32
SMALL_BATCHES = ("--set", "index.write_batch_chunks=16")  # many commits to land between
LOOPBACK = ("--set", "ingest.allowed_networks=127.0.0.1/32", "--set", "ingest.retries=0")
OWNER = ("--set", "owner.names=Sam Rivera")
TRAIN = (
    *OWNER,
    *("--set", "training.lora_rank=8", "--set", "training.batch_size=2"),
    *("--set", "training.grad_accum=1", "--set", "training.max_seq_len=256"),
    *("--set", "training.max_answer_tokens=192", "--set", "training.save_steps=1"),
    *("--set", "training.gradient_checkpointing=false"),
)


@pytest.fixture(scope="module")
def notes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first NOTES notes of the corpus, in a folder of their own."""
    folder = tmp_path_factory.mktemp("notes")
    for note in sorted(p for p in CORPUS.glob("*.md") if p.name != "README.md")[:NOTES]:
        shutil.copy(note, folder / note.name)
    return folder


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A home with the sample ingested, copied by each test that needs one."""
    home = tmp_path_factory.mktemp("seeded") / "home"
    Child(home, home.parent / "ingest.log", "ingest", str(SAMPLE)).finish()
    return home


@pytest.fixture
def home(seeded: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "home"
    shutil.copytree(seeded, copy)
    return copy


def more_than(home: Path, extra: int) -> Callable[[], bool]:
    """True once `extra` more documents than now are committed."""
    start = stored_documents(home)
    return lambda: stored_documents(home) >= start + extra


# --- ingest -------------------------------------------------------------------------------


def test_an_ingest_killed_at_three_points_loses_nothing(tmp_path: Path, notes: Path) -> None:
    home = tmp_path / "home"
    kills: list[tuple[str, Callable[[], Callable[[], bool]]]] = [
        ("the stores being made", lambda: lambda: (home / "index").is_dir()),
        ("after 5 documents", lambda: more_than(home, 5)),
        ("after 10 more documents", lambda: more_than(home, 10)),
    ]
    for n, (moment, when) in enumerate(kills):
        ready = when()  # counted from what is stored before this run starts
        child = Child(home, tmp_path / f"ingest-{n}.log", *SMALL_BATCHES, "ingest", str(notes))
        child.kill_when(ready)
        assert_consistent(home, label=fault(f"kill -9 during ingest: {moment}"))
    output = Child(home, tmp_path / "ingest-3.log", "ingest", str(notes)).finish()
    assert "1 of 1 input ingested" in output, output
    assert assert_consistent(home, label="ingest run again").documents == NOTES


# --- recrawl ------------------------------------------------------------------------------


def test_a_recrawl_killed_mid_fetch_and_mid_write_loses_nothing(
    tmp_path: Path, threaded_server: ThreadedServer
) -> None:
    pages = sorted((FIXTURES / "pages").glob("*.html"), key=lambda p: p.stat().st_size)[:6]
    paths = [f"/post/{n}" for n in range(len(pages))]
    urls = [
        threaded_server.fixture_page(page.name, path)
        for page, path in zip(pages, paths, strict=True)
    ]
    home = tmp_path / "home"
    Child(home, tmp_path / "ingest.log", *LOOPBACK, "ingest", *urls).finish()
    stored = assert_consistent(home, label="recrawl: the pages ingested").documents
    assert stored == len(pages)

    # Every page changes (each path now serves the next page), and one answers slowly.
    for n, path in enumerate(paths):
        threaded_server.fixture_page(pages[(n + 1) % len(pages)].name, path)

    released = hold(threaded_server, paths[4])  # a fetch the kill lands in
    child = Child(home, tmp_path / "recrawl-0.log", *LOOPBACK, "recrawl")
    child.kill_when(lambda: threaded_server.hits.get(paths[4], 0) >= 2)
    released.set()
    assert_consistent(home, label=fault("kill -9 during a recrawl: a page being fetched"))
    threaded_server.fixture_page(pages[5].name, paths[4])

    released = hold(threaded_server, paths[3])  # so it is still running after a source ends
    child = Child(home, tmp_path / "recrawl-1.log", *LOOPBACK, "recrawl")
    child.kill_when(lambda: lines(child, "✓ ")() >= 1)
    released.set()
    assert_consistent(home, label=fault("kill -9 during a recrawl: after its first source"))
    threaded_server.fixture_page(pages[4].name, paths[3])
    output = Child(home, tmp_path / "recrawl-2.log", *LOOPBACK, "recrawl").finish()
    assert "error" not in output.lower(), output
    assert assert_consistent(home, label="recrawl run again").documents == stored


def hold(server: ThreadedServer, path: str) -> threading.Event:
    """`path` answers only once the event handed back is set (then with a 503)."""
    released = threading.Event()

    async def held(request: web.Request) -> web.StreamResponse:
        # Set from the test's thread, so polled.
        while not released.is_set():  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        raise web.HTTPServiceUnavailable()

    server.route(path, held)
    return released


# --- a draft ------------------------------------------------------------------------------


def test_a_draft_killed_while_asking_or_streaming_leaves_no_half_draft(
    home: Path, tmp_path: Path
) -> None:
    with emulator_thread() as emulator:
        model = ("--set", "model.backend=openai", "--set", f"model.url={emulator.url}")
        draft = (*model, "draft", "Write a post about SQLite")
        emulator.script = Script(together=2)  # held before its first token
        child = Child(home, tmp_path / "draft-0.log", *draft)
        child.kill_when(lambda: len(emulator.requests) >= 1)
        sent = assert_consistent(home, label=fault("kill -9 during a draft: the model asked"))
        assert sent.drafts == 0

        emulator.script = Script(pause_after=2)  # the stream stops half-way until killed
        child = Child(home, tmp_path / "draft-1.log", *draft)
        child.kill_when(emulator.paused.is_set)
        killed = assert_consistent(home, label=fault("kill -9 during a draft: mid-stream"))
        assert killed.drafts == 0

        emulator.script = Script()
        output = Child(home, tmp_path / "draft-2.log", *draft).finish()
        assert "Hello, world." in output, output
    assert assert_consistent(home, label="draft run again").drafts == 1


# --- a training run -----------------------------------------------------------------------


def test_a_training_run_killed_is_marked_failed_and_resumes(home: Path, tmp_path: Path) -> None:
    train = (*TRAIN, "train", "--max-steps", "3", "--no-eval", "--events")
    child = Child(home, tmp_path / "train-0.log", *train)
    child.kill_when(lambda: "training on" in child.output())  # registered, loading
    name = fault("kill -9 during training: the run registered")
    with pytest.raises(AssertionError, match="a running run with no process"):
        assert_consistent(home, mend=False)  # what the kill left, before any mending
    assert assert_consistent(home, label=name).runs == {"failed": 1}

    child = Child(home, tmp_path / "train-1.log", *train)
    child.kill_when(lambda: '"step": 2' in child.output())  # mid-SFT, checkpoints written
    assert assert_consistent(home, label=fault("kill -9 during training: step 2")).runs == {
        "failed": 2
    }
    found = re.search(r"run (\S+): training on", child.output())
    assert found is not None, child.output()
    output = Child(home, tmp_path / "train-2.log", *TRAIN, "train", "--resume", found[1]).finish()
    assert "trained" in output, output
    assert assert_consistent(home, label="training resumed").runs == {"failed": 1, "trained": 1}


# --- a digest -----------------------------------------------------------------------------


def test_a_digest_killed_while_drafting_or_after_posting_is_never_posted_twice(
    home: Path, tmp_path: Path, notes: Path
) -> None:
    posted = tmp_path / "posted.jsonl"
    digest = {"module": "tests.reliability.digest_child"}

    def posts() -> list[str]:
        return posted.read_text().splitlines() if posted.exists() else []

    with emulator_thread() as emulator:
        emulator.script = Script(pause_after=1)
        child = Child(home, tmp_path / "digest-0.log", emulator.url, str(posted), **digest)
        child.kill_when(emulator.paused.is_set)
        assert_consistent(home, label=fault("kill -9 during a digest: its draft"))
        assert posts() == []

        note = next(notes.glob("*.md"))  # new writing for the next period
        Child(home, tmp_path / "ingest.log", "ingest", str(note)).finish()
        emulator.script = Script()
        child = Child(
            home, tmp_path / "digest-1.log", emulator.url, str(posted), "--hold", **digest
        )
        child.kill_when(lambda: "posted" in child.output())
        after = assert_consistent(home, label=fault("kill -9 during a digest: posted, unrecorded"))
        assert len(posts()) == 1 and after.digests == 2

        for n in (2, 3):  # run again, twice: nothing new, nothing posted again
            output = Child(home, tmp_path / f"digest-{n}.log", emulator.url, str(posted), **digest)
            assert "digest: nothing ingested since" in output.finish()
    assert len(posts()) == 1
    assert assert_consistent(home, label="digest run again").digests == 4


# --- the check itself ---------------------------------------------------------------------


def test_the_check_fails_on_each_kind_of_damage(home: Path) -> None:
    """What a fault could leave, made by hand, one at a time: the check names each."""
    with opened(home) as twin:  # a document removed behind the index's back
        doomed = min(twin.warehouse.document_ids())
        with twin.warehouse.writer.begin() as conn:
            conn.execute(sa.delete(documents).where(documents.c.id == doomed))
    with pytest.raises(AssertionError, match="chunks without their document"):
        assert_consistent(home, mend=False)
    assert assert_consistent(home, label="the check: a document removed").documents == 5

    with opened(home) as twin:  # a document's chunks lost
        index = twin.index
        twin.health.wait()  # the check on open is done: nothing mends it behind the test
        index.delete_document(min(twin.warehouse.document_ids()))
    with pytest.raises(AssertionError, match="documents without chunks"):
        assert_consistent(home, mend=False)
    assert assert_consistent(home, label="the check: chunks removed").chunks == 5

    with opened(home) as twin:  # registered as trained without its adapter
        run = twin.models.start(base_model="m", dataset_hash="h", dataset_folder="d", config={})
        twin.models.add_paths(run.id, adapter=str(home / "never-written"))
        twin.models.finish(run.id)
    with pytest.raises(AssertionError, match="trained run without adapter"):
        assert_consistent(home, mend=False)
    with pytest.raises(AssertionError, match="adapter folder of 1 trained run is missing"):
        assert_consistent(home)  # the product's own check sees it too
    with opened(home) as twin:
        twin.models.fail(run.id, "no adapter")

    with opened(home) as twin:  # a second claim over a claimed period
        claim = DigestLog(twin.warehouse).claim("telegram:42", datetime.now(UTC))
        assert claim is not None
        later = {"period_end": claim.period_end + timedelta(hours=1), "holder": "elsewhere:1"}
        with twin.warehouse.writer.begin() as conn:
            conn.execute(
                digests.insert().values(
                    **later,
                    destination=claim.destination,
                    period_start=claim.period_start,
                    status="sending",
                    claimed_at=claim.claimed_at,
                )
            )
    with pytest.raises(AssertionError, match="overlapping digests"):
        assert_consistent(home)


@contextmanager
def opened(home: Path) -> Iterator[Twin]:
    twin = Twin(load_config(home=home, env={}))
    try:
        yield twin
    finally:
        twin.close()
