"""Voice examples in drafts, on real parts: the sample writing plus a few X posts (Sam's,
one marked as someone else's, one by another author) ingested into LanceDB with the real
embedder, SmolLM2 on CPU, SQLite. The model is wrapped only to read what reached it."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from bot.config import load_config
from bot.twin import Twin
from ingest.warehouse.schema import documents
from model.draft import DraftDone, DraftRequest
from model.hf import HfGenerator
from model.voice import MIN_DOCUMENTS
from tests.model.recording import RecordingGenerator

pytestmark = pytest.mark.slow

SAMPLE = Path(__file__).resolve().parents[2] / "sample"
POSTS = {
    "x-evals.md": ("Sam Rivera", "Evals beat vibes", "Evals are unit tests for models."),
    "x-gpus.md": ("Sam Rivera", "Rent before you buy", "Rent GPUs until the bill hurts."),
    "x-oncall.md": ("Sam Rivera", "Pager wisdom", "Write runbooks for the 3 a.m. reader."),
    "x-quote.md": ("Sam Rivera", "A quoted thread", "QUOTED: on-call is a team sport."),
    "x-dana.md": ("Dana Lee", "Dana on on-call", "DANA: on-call rotations need slack time."),
}
Make = Callable[..., Any]


def write_posts(folder: Path) -> Path:
    folder.mkdir()
    for name, (author, title, text) in POSTS.items():
        (folder / name).write_text(
            f"---\ntitle: {title}\nauthor: {author}\ndate: 2026-05-01\nplatform: x\n---\n"
            f"{text} Lessons from being on call, evals and GPU budgets.\n"
        )
    return folder


@pytest.fixture
async def make(smol: HfGenerator, tmp_path: Path) -> AsyncIterator[Callable[..., Any]]:
    """make(posts=..., **settings) -> (twin, model): the sample (and the X posts) ingested;
    "A quoted thread" is marked as someone else's writing, as a repost would be."""
    twins: list[Twin] = []

    async def build(posts: bool = True, **settings: str) -> tuple[Twin, RecordingGenerator]:
        model = RecordingGenerator(smol)
        values = {
            "owner.name": "Sam Rivera",
            "drafting.max_new_tokens": "16",
            "drafting.temperature": "0",
            "drafting.k": "2",
        } | settings
        twin = Twin(load_config(values), generator=model)
        twins.append(twin)
        inputs = [str(SAMPLE)]
        if posts:
            inputs.append(str(write_posts(tmp_path / f"posts{len(twins)}")))
        async with twin.ingestor() as ingestor:
            results = await ingestor.ingest(inputs, allow_paths=True)
        assert all(r.ok for r in results)
        with twin.warehouse.writer.begin() as conn:
            conn.execute(
                sa.update(documents)
                .where(documents.c.title == "A quoted thread")
                .values(owned=False)
            )
        return twin, model

    yield build
    for twin in twins:
        await twin.aclose()


async def draft(twin: Twin, request: DraftRequest) -> DraftDone:
    async with twin.draft_writer() as writer:
        events = [event async for event in writer.write(request)]
    done = events[-1]
    assert isinstance(done, DraftDone)
    return done


def examples(user: str) -> list[str]:
    """The titles of the voice examples in a user turn, in order."""
    return re.findall(r'<example id="\d+" kind="voice" title="([^"]+)"', user)


def materials(user: str) -> list[str]:
    return re.findall(r'<material id="\d+" kind="writing" title="([^"]+)"', user)


async def test_a_thread_gets_the_owners_own_x_posts_as_voice_examples(make: Make) -> None:
    twin, model = await make()
    done = await draft(twin, DraftRequest("lessons from being on call", format="thread"))
    (system, turn), _ = model.calls[-1]
    user = turn.content

    voice = examples(user)
    sams = {"Evals beat vibes", "Rent before you buy", "Pager wisdom"}
    # Sam's X posts only: never one marked as someone else's, never another author's,
    # never a document the material already shows
    assert voice and set(voice) <= sams, user
    assert not set(voice) & set(materials(user))
    shown = user.split("<example", 1)[1].split("Request from", 1)[0]
    assert "QUOTED" not in shown and "DANA" not in shown
    assert len(voice) <= 3  # drafting.voice_examples
    # fenced apart, after the material, with the instruction to take shape, not facts
    assert user.index("<example") > user.index("<material")
    assert "imitate the voice and shape, not the content" in user
    assert "do not reuse their facts" in system.content
    assert 'between <example kind="voice"> and </example> tags' in system.content

    # the draft names what it drew on, by role, and stores it
    roles = {s.title: s.role for s in done.draft.sources}
    assert {t for t, r in roles.items() if r == "voice"} == set(voice)
    assert {t for t, r in roles.items() if r == "material"} == set(materials(user))
    stored = twin.drafts.get(done.draft.id)
    assert stored is not None and stored.sources == done.draft.sources
    assert not any("voice examples" in note for note in done.draft.notes)


async def test_voice_examples_stay_within_their_token_budget(make: Make) -> None:
    twin, model = await make()
    request = DraftRequest("lessons from being on call", format="thread")

    async def sent_tokens(**drafting: int) -> tuple[int, int]:
        twin.config = replace(twin.config, drafting=replace(twin.config.drafting, **drafting))
        await draft(twin, request)
        sent, _ = model.calls[-1]
        return model.count_tokens(sent), len(examples(sent[1].content))

    without, none = await sent_tokens(voice_examples=0)
    full, many = await sent_tokens(voice_examples=3, voice_tokens=800)
    budget = (full - without) * 2 // 3  # room for some of the three, not all
    tight, few = await sent_tokens(voice_examples=3, voice_tokens=budget)
    assert none == 0 and many == 3 and few >= 1
    assert full - without <= 800 and tight - without <= budget and tight < full


async def test_with_no_writing_of_the_format_the_nearest_other_writing_stands_in(
    make: Make,
) -> None:
    twin, model = await make(posts=False)  # the sample: LinkedIn, Medium, Substack; no X
    done = await draft(twin, DraftRequest("lessons from being on call", format="thread"))
    user = model.calls[-1][0][1].content
    assert examples(user)  # from the other platforms
    assert (
        "no X posts or threads of yours yet: voice examples are from your other writing"
        in done.draft.notes
    )
    assert any(s.role == "voice" for s in done.draft.sources)


async def test_an_owner_with_too_few_documents_gets_no_examples_and_a_note(make: Make) -> None:
    twin, model = await make(**{"owner.name": "Dana Lee"})  # one document of hers
    done = await draft(twin, DraftRequest("lessons from being on call", format="thread"))
    user = model.calls[-1][0][1].content
    assert "<example" not in user and "<example" not in model.calls[-1][0][0].content
    assert (
        f"no voice examples: they need at least {MIN_DOCUMENTS} documents of your own "
        f"writing, and there is 1; add {MIN_DOCUMENTS - 1} more (e.g. a link to a post of "
        "yours)"
    ) in done.draft.notes
    assert all(s.role == "material" for s in done.draft.sources)
