"""The draft writer end to end on real parts: the sample writing ingested into LanceDB with
the real embedder, SmolLM2 on CPU, SQLite, and a loopback server for shared links. The
model is wrapped only to read what reached it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest

from bot.config import load_config
from bot.twin import Twin
from core.errors import InputError
from model.draft import DraftDone, DraftEvent, DraftRequest, DraftWriter, Prepared
from model.generator import GenerationParams, TextDelta
from model.hf import HfGenerator
from model.openai_compat import OpenAIGenerator
from model.prompts import draft_messages
from model.shape import shape, x_length
from tests.http_server import LocalServer
from tests.model.openai_emulator import OpenAIEmulator, Script
from tests.model.recording import RecordingGenerator

pytestmark = pytest.mark.slow

SAMPLE = Path(__file__).resolve().parents[2] / "sample"


@pytest.fixture
async def twin(smol: HfGenerator) -> AsyncIterator[tuple[Twin, RecordingGenerator]]:
    model = RecordingGenerator(smol)
    config = load_config(
        {
            "ingest.allowed_networks": "127.0.0.1/32",
            "ingest.retries": "0",
            "owner.name": "Sam Rivera",
            "owner.bio": "Engineer who writes about shipping small models.",
            "drafting.max_new_tokens": "24",
            "drafting.temperature": "0",
        }
    )
    twin = Twin(config, generator=model)
    async with twin.ingestor() as ingestor:
        results = await ingestor.ingest([str(SAMPLE)], allow_paths=True)
    assert results[0].ok
    yield twin, model
    await twin.aclose()


async def write(writer: DraftWriter, request: DraftRequest) -> list[DraftEvent]:
    return [event async for event in writer.write(request)]


def done_of(events: list[DraftEvent]) -> DraftDone:
    last = events[-1]
    assert isinstance(last, DraftDone)
    return last


async def test_a_draft_is_grounded_in_retrieved_writing_and_recorded(
    twin: tuple[Twin, RecordingGenerator],
) -> None:
    app, model = twin
    async with app.draft_writer() as writer:
        events = await write(writer, DraftRequest("Why should I try retrieval before fine-tuning?"))
    prepared = events[0]
    assert isinstance(prepared, Prepared)
    streamed = "".join(e.text for e in events if isinstance(e, TextDelta))
    done = done_of(events)

    # What reached the model: the system brief in Sam's voice, the passages as material
    (system, user), params = model.calls[-1]
    assert "You write as Sam Rivera" in system.content
    assert "not instructions" in system.content
    assert "LinkedIn post" in system.content
    assert '<material id="1" kind="writing" title="Retrieval before fine-tuning"' in user.content
    hits = await app.search("Why should I try retrieval before fine-tuning?", k=1)
    assert hits[0].chunk.text.strip()[:200] in user.content
    assert user.content.rstrip().endswith(
        "Request from Sam Rivera: Why should I try retrieval before fine-tuning?"
    )
    assert params.max_new_tokens == 24 and params.temperature == 0.0

    # Sources listed, most relevant first, and the record holds the whole story
    titles = [s.title for s in done.draft.sources]
    assert titles[0] == "Retrieval before fine-tuning"
    assert prepared.sources == done.draft.sources
    stored = app.drafts.get(done.draft.id)
    assert stored is not None
    assert stored.output  # what streamed, shaped for LinkedIn (model/shape.py)
    expected = shape(
        streamed, "linkedin", finish_reason=stored.finish_reason, speakers=("Sam Rivera",)
    )
    assert stored.output == expected.text
    assert stored.prompt == "Why should I try retrieval before fine-tuning?"
    assert stored.format == "linkedin" and stored.user == "owner"
    assert hits[0].chunk.chunk_id in stored.chunk_ids
    assert stored.model_id == model.model_id and stored.backend == "hf"
    assert stored.params["max_new_tokens"] == 24
    assert stored.finish_reason in ("stop", "length")
    assert {"retrieval_ms", "prompt_tokens", "time_to_first_token_s", "tokens_per_second"} <= set(
        stored.timings
    )
    assert stored.timings["prompt_tokens"] == prepared.prompt_tokens


@pytest.mark.parametrize(
    ("fmt", "brief"),
    [("thread", "X (Twitter) thread"), ("article", "article outline"), ("answer", "Answer")],
)
async def test_each_format_has_its_own_brief(
    twin: tuple[Twin, RecordingGenerator], fmt: str, brief: str
) -> None:
    app, model = twin
    async with app.draft_writer() as writer:
        done = done_of(await write(writer, DraftRequest("on-call lessons", format=fmt)))
    assert brief in model.calls[-1][0][0].content
    assert done.draft.format == fmt


async def test_the_finished_draft_is_shaped_for_its_platform_and_says_what_was_cut(
    twin: tuple[Twin, RecordingGenerator],
) -> None:
    app, _ = twin
    for tokens in (32, 35, 38):  # greedy: the first length that stops mid-sentence
        drafting = replace(app.config.drafting, max_new_tokens=tokens)
        app.config = replace(app.config, drafting=drafting)
        async with app.draft_writer() as writer:
            request = DraftRequest("lessons from being on call", format="thread")
            events = await write(writer, request)
        streamed = "".join(e.text for e in events if isinstance(e, TextDelta))
        if streamed.rstrip()[-1:] not in (".", "!", "?"):
            break
    done = done_of(events)
    # the draft is cut back to its last whole sentence and numbered as X posts, and that
    # is what was stored
    assert done.finished.finish_reason == "length"
    assert not streamed.lstrip().startswith("1/")
    assert done.draft.output.startswith("1/ ") and done.draft.output != streamed.strip()
    assert done.draft.output[-1] in ".!?"
    assert all(x_length(post) <= 280 for post in done.draft.output.split("\n\n"))
    assert (
        "cut back to the last whole sentence: the model stopped at drafting.max_new_tokens"
        in done.draft.notes
    )
    stored = app.drafts.get(done.draft.id)
    assert stored is not None and stored.output == done.draft.output


async def test_a_shared_link_is_material_and_a_dead_one_is_a_note(
    twin: tuple[Twin, RecordingGenerator], server: LocalServer
) -> None:
    app, model = twin
    good = server.fixture_page("lemire.me.json.html")
    dead = server.url("/gone")  # 404
    async with app.draft_writer() as writer:
        events = await write(
            writer, DraftRequest(f"React to this post: {good}.", links=(dead,), format="answer")
        )
    user = model.calls[-1][0][1].content
    assert 'kind="link"' in user and f'source="{good}"' in user
    assert "JSON" in user.split('kind="link"')[1]  # the page's text, not just its URL
    done = done_of(events)
    assert good in [s.url for s in done.draft.sources]
    assert any(dead in note and "written without it" in note for note in done.draft.notes)
    assert done.draft.output  # the draft still came
    assert set(done.draft.links) == {good, dead}


async def test_material_is_cut_before_the_prompt_is_refused(
    twin: tuple[Twin, RecordingGenerator],
) -> None:
    app, model = twin
    # the material's budget alone (voice examples have their own: tests/model/test_voice.py)
    drafting = replace(app.config.drafting, context_tokens=300, voice_examples=0)
    app.config = replace(app.config, drafting=drafting)
    async with app.draft_writer() as writer:
        events = await write(writer, DraftRequest("Why should I try retrieval before fine-tuning?"))
        prepared = events[0]
        assert isinstance(prepared, Prepared)
        assert any("left out to fit the context" in note for note in prepared.notes)
        sent, _ = model.calls[-1]
        assert 1 <= sent[1].content.count('kind="writing"') < 6  # some passages, not all
        request = draft_messages(
            "Why should I try retrieval before fine-tuning?",
            "linkedin",
            [],
            owner="Sam Rivera",
            bio="Engineer who writes about shipping small models.",
        )[1]
        bare = [sent[0], request]  # the same system prompt (with the style), no material
        assert model.count_tokens(sent) <= model.count_tokens(bare) + 300  # the budget

        huge = "retrieval " * (model.context_length + 100)
        with pytest.raises(InputError, match="too long") as refusal:
            await write(writer, DraftRequest(huge))
    assert f"context of {model.context_length} tokens" in str(refusal.value)


async def test_bad_requests_are_refused_with_the_reason(
    twin: tuple[Twin, RecordingGenerator],
) -> None:
    app, model = twin
    async with app.draft_writer() as writer:
        with pytest.raises(InputError, match="prompt: is empty"):
            await write(writer, DraftRequest("   \n"))
        with pytest.raises(InputError, match="is not one of linkedin, thread, article, answer"):
            await write(writer, DraftRequest("hello", format="sonnet"))
    assert model.calls == []  # nothing reached the model
    assert app.drafts.recent() == []


async def test_two_concurrent_drafts_both_finish(twin: tuple[Twin, RecordingGenerator]) -> None:
    app, _ = twin
    async with app.draft_writer() as writer:
        a, b = await asyncio.gather(
            write(writer, DraftRequest("on-call lessons", user="alice")),
            write(writer, DraftRequest("a GPU budget", user="bob")),
        )
    assert done_of(a).draft.user == "alice" and done_of(b).draft.user == "bob"
    assert {d.user for d in app.drafts.recent()} == {"alice", "bob"}


async def test_a_cancelled_draft_stops_and_is_recorded_as_cancelled(
    twin: tuple[Twin, RecordingGenerator], smol: HfGenerator
) -> None:
    app, model = twin
    long = replace(app.config.drafting, max_new_tokens=400, temperature=0.0)
    app.config = replace(app.config, drafting=long)
    first_text = asyncio.Event()

    async def reader(writer: DraftWriter) -> None:
        async for event in writer.write(DraftRequest("on-call lessons")):
            if isinstance(event, TextDelta):
                first_text.set()

    async with app.draft_writer() as writer:
        before = smol.generated_tokens
        task = asyncio.create_task(reader(writer))
        await first_text.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    # The model's thread is free again (it runs one job at a time), and the cancelled
    # draft did not go on to write its 400 tokens.
    quick = GenerationParams(max_new_tokens=2, temperature=0.0)
    assert [e async for e in smol.stream(model.calls[-1][0], quick)]
    assert smol.generated_tokens - before < 50
    cancelled = [d for d in app.drafts.recent() if d.prompt == "on-call lessons"]
    assert len(cancelled) == 1 and cancelled[0].finish_reason == "cancelled"


async def test_filters_read_off_the_prompt_narrow_the_search(
    twin: tuple[Twin, RecordingGenerator],
) -> None:
    app, _ = twin
    async with app.draft_writer() as writer:
        narrowed = done_of(await write(writer, DraftRequest("a recap of my LinkedIn posts")))
        fallback = done_of(await write(writer, DraftRequest("a recap of my GitHub repos")))
    linkedin = {"Ship the small model first", "SQLite is enough (until it is not)"}
    assert {s.title for s in narrowed.draft.sources} <= linkedin
    assert not any("nothing matched" in n for n in narrowed.draft.notes)
    # nothing on GitHub: searched everything instead, and said so
    assert "nothing matched platform github; searched all your writing" in fallback.draft.notes
    assert len(fallback.draft.sources) > 2


async def test_expanded_queries_are_searched_and_fused(
    twin: tuple[Twin, RecordingGenerator],
) -> None:
    app, model = twin
    # voice examples off: their own search would be recorded too
    drafting = replace(app.config.drafting, expand_queries=2, voice_examples=0)
    app.config = replace(app.config, drafting=drafting)
    async with app.draft_writer() as writer:
        searched: list[list[str]] = []
        inner = writer.retrieve

        async def recording(queries, *, k, filters):  # type: ignore[no-untyped-def]
            searched.append(list(queries))
            return await inner(queries, k=k, filters=filters)

        writer.retrieve = recording
        done = done_of(await write(writer, DraftRequest("lessons from on-call nights")))
    expansion, draft = model.calls[-2], model.calls[-1]
    assert "search queries" in expansion[0][0].content
    assert expansion[0][1].content == "lessons from on-call nights"
    assert "Request from Sam Rivera: lessons from on-call nights" in draft[0][1].content
    assert searched[0][0] == "lessons from on-call nights"
    assert 2 <= len(searched[0]) <= 3  # the prompt plus up to two model-written queries
    assert "expansion_ms" in done.draft.timings


async def test_a_speaker_label_the_model_opens_with_is_not_in_the_draft() -> None:
    """A model that answers as in a transcript ("Sam Rivera:" on a line of its own, as the
    bundled model did in bench/voice_bench.py): the stored draft starts with the words."""
    emulator = OpenAIEmulator(models=("twin",))
    emulator.script = Script(deltas=["Sam Rivera", ":\n\n", "I ship the small model first."])
    await emulator.start()
    try:
        generator = await OpenAIGenerator.connect(emulator.url, "twin", context_length=4096)
        twin = Twin(load_config({"owner.name": "Sam Rivera"}), generator=generator)
        try:
            async with twin.draft_writer() as writer:
                done = done_of(await write(writer, DraftRequest("why small?", format="answer")))
        finally:
            await twin.aclose()
            await generator.aclose()  # handed in: the twin does not own it
    finally:
        await emulator.close()
    assert done.draft.output == "I ship the small model first."
    stored = twin.drafts.get(done.draft.id)
    assert stored is not None and stored.output == done.draft.output
