"""The "Your style" block of the system prompt: the profile's guidance for the draft's
platform and the owner's voice notes; LinkedIn's brief follows drafting.linkedin_max_chars;
packing leaves the block out before it refuses a prompt. The draft tests run the real
writer: the sample ingested with the real embedder, SmolLM2 on CPU, SQLite."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest

from bot.config import load_config
from bot.twin import Twin
from core.errors import ConfigError, InputError
from model.draft import DraftDone, DraftRequest, Prepared
from model.hf import HfGenerator
from model.packing import pack_material
from model.prompts import StyleBrief, draft_messages, system_prompt
from tests.model.recording import RecordingGenerator
from tests.model.test_style import LINKEDIN
from tests.model.test_style_store import post, store

SAMPLE = Path(__file__).resolve().parents[2] / "sample"
NOTES = ("Never use the word 'synergy'.", "No exclamation marks.")
GUIDANCE = ("opens with a one-line question (6 of 6)", "signs off with 'Thoughts?' (5 of 6)")


@pytest.mark.parametrize("chars", [900, 1300, 2500])
def test_the_linkedin_brief_follows_the_configured_length(chars: int) -> None:
    text = system_prompt("linkedin", "Sam", style=StyleBrief(linkedin_max_chars=chars))
    assert f"Stay under {chars:,} characters." in text
    assert "1,300" not in text or chars == 1300


def test_the_style_block_lists_guidance_then_the_owners_own_notes() -> None:
    text = system_prompt("linkedin", "Sam", style=StyleBrief(GUIDANCE, "linkedin writing", NOTES))
    block = text.partition("\nYour style, measured from Sam's own linkedin writing (match it):\n")[
        2
    ]
    assert block.startswith(
        "- opens with a one-line question (6 of 6)\n- signs off with 'Thoughts?' (5 of 6)\n"
        "Sam's own rules for their voice (always follow them):\n"
        "- Never use the word 'synergy'.\n- No exclamation marks.\n"
    )
    assert text.endswith("follow your style, but never exceed a length limit.")
    assert "Your style" not in system_prompt("linkedin", "Sam")  # nothing measured, no block


def test_voice_notes_are_checked_when_config_loads() -> None:
    loaded = load_config({"owner.voice_notes": '["Short sentences.", "No emoji."]'})
    assert loaded.owner.voice_notes == ("Short sentences.", "No emoji.")
    with pytest.raises(ConfigError, match=r"owner.voice_notes must each be one line"):
        load_config({"owner.voice_notes": '["fine", ""]'})
    with pytest.raises(ConfigError, match="at most 20 lines"):
        load_config({"owner.voice_notes": json.dumps([f"note {n}" for n in range(21)])})


async def test_packing_leaves_the_style_out_before_refusing(smol: HfGenerator) -> None:
    brief = StyleBrief(GUIDANCE * 20, "linkedin writing", NOTES)
    model = RecordingGenerator(smol)

    def tokens(style: StyleBrief) -> int:
        return model.count_tokens(
            draft_messages("Ship it", "linkedin", [], owner="Sam", style=style)
        )

    plain, notes_only = tokens(StyleBrief()), tokens(replace(brief, guidance=()))
    assert plain < notes_only < tokens(brief)
    for context, kept, note in [
        (tokens(brief) + 100, brief, None),
        (notes_only + 100, replace(brief, guidance=()), "your style guidance was left out"),
        (plain + 100, StyleBrief(), "your voice notes (owner.voice_notes) were left out"),
    ]:
        model.context_length = context
        packed = pack_material(
            model, "Ship it", "linkedin", [], [], owner="Sam", bio="", reserve=100,
            material_tokens=0, style=brief,
        )  # fmt: skip
        assert packed.messages[0].content == system_prompt("linkedin", "Sam", style=kept)
        assert note is None or any(n.startswith(note) for n in packed.notes)
    model.context_length = plain + 99
    with pytest.raises(InputError, match="too long"):
        pack_material(
            model, "Ship it", "linkedin", [], [], owner="Sam", bio="", reserve=100,
            material_tokens=0, style=brief,
        )  # fmt: skip


@pytest.fixture
async def sam(smol: HfGenerator) -> AsyncIterator[tuple[Twin, RecordingGenerator]]:
    """The sample (6 pieces: 2 each on LinkedIn, Medium and Substack) ingested, with voice
    notes and a 900-character LinkedIn target."""
    model = RecordingGenerator(smol)
    config = load_config(
        {
            "owner.name": "Sam Rivera",
            "owner.voice_notes": json.dumps(NOTES),
            "drafting.max_new_tokens": "16",
            "drafting.temperature": "0",
            "drafting.linkedin_max_chars": "900",
        }
    )
    twin = Twin(config, generator=model)
    async with twin.ingestor() as ingestor:
        results = await ingestor.ingest([str(SAMPLE)], allow_paths=True)
    assert results[0].ok
    yield twin, model
    await twin.aclose()


async def draft(twin: Twin, request: DraftRequest) -> tuple[Prepared, DraftDone]:
    async with twin.draft_writer() as writer:
        events = [event async for event in writer.write(request)]
    assert isinstance(events[0], Prepared) and isinstance(events[-1], DraftDone)
    return events[0], events[-1]


async def test_a_draft_carries_the_owners_style_and_notes(
    sam: tuple[Twin, RecordingGenerator],
) -> None:
    twin, model = sam
    await draft(twin, DraftRequest("Why evals matter", format="linkedin"))
    system = model.calls[-1][0][0].content
    assert "Stay under 900 characters." in system
    # two LinkedIn posts are too few for a LinkedIn profile: all six pieces describe Sam
    block = system.partition("\nYour style, measured from Sam Rivera's own writing (match it):\n")[
        2
    ]
    expected = twin.style_profile().prompt_guidance(["linkedin"])
    assert expected[0] is None and expected[1]
    assert block.startswith("".join(f"- {line}\n" for line in expected[1]))
    # one sample post ends with two hashtags, none has an emoji
    assert "- hashtags rarely (1 of 6)\n" in block and "- no emoji\n" in block
    assert (
        "Sam Rivera's own rules for their voice (always follow them):\n"
        "- Never use the word 'synergy'.\n- No exclamation marks.\n"
    ) in block

    # Five more LinkedIn posts of Sam's with their habits: the LinkedIn profile speaks.
    store(twin, *(post(n, text) for n, text in enumerate(LINKEDIN[:5])))
    await draft(twin, DraftRequest("Why evals matter", format="linkedin"))
    system = model.calls[-1][0][0].content
    assert "Your style, measured from Sam Rivera's own linkedin writing (match it):" in system
    assert "- opens with a one-line question (5 of 7)\n" in system
    assert "- signs off with 'Thoughts?' (5 of 7)\n" in system
    # a thread: Sam has no X posts, so the profile of all their writing
    await draft(twin, DraftRequest("Why evals matter", format="thread"))
    assert "measured from Sam Rivera's own writing (match it)" in model.calls[-1][0][0].content


async def test_too_little_writing_gives_no_guidance_and_says_so(smol: HfGenerator) -> None:
    model = RecordingGenerator(smol)
    config = load_config(
        {
            "owner.name": "Sam Rivera",
            "owner.voice_notes": '["Short sentences."]',
            "drafting.max_new_tokens": "16",
            "drafting.k": "0",
        }
    )
    twin = Twin(config, generator=model)
    try:
        store(twin, *(post(n, text) for n, text in enumerate(LINKEDIN[:2])))
        prepared, _ = await draft(twin, DraftRequest("Why evals matter"))
    finally:
        await twin.aclose()
    system = model.calls[-1][0][0].content
    assert "Your style, measured" not in system  # nothing invented
    assert "own rules for their voice (always follow them):\n- Short sentences.\n" in system
    assert (
        "not enough of your writing to describe your style: 2 documents, at least 5 are "
        "needed (add more of your own posts)"
    ) in prepared.notes
