"""The voice bench's split of the owner's notes (bench/voice_bench.py): the held-out notes,
whose titles become the draft prompts, are never ingested or trained on."""

from __future__ import annotations

from pathlib import Path

from bench.voice_bench import prompt_for, split_notes, spread

TIL = Path(__file__).resolve().parents[1] / "fixtures" / "simonw_til"


def test_the_split_holds_out_every_fifth_note_with_no_overlap_and_repeats() -> None:
    notes = sorted(p for p in TIL.glob("*.md") if p.name != "README.md")
    assert len(notes) == 40
    split = split_notes(notes, every=5)
    assert len(split.held_out) == 8 and len(split.train) == 32
    assert not set(split.held_out) & set(split.train)
    assert sorted([*split.train, *split.held_out]) == notes
    # The same notes in any order give the same split.
    assert split_notes(list(reversed(notes)), every=5) == split
    # Held-out notes come from across the topic folders, not one corner of the corpus.
    assert len({p.name.split("__")[0] for p in split.held_out}) >= 6


def test_prompts_spread_over_the_held_out_notes() -> None:
    items = [Path(f"{n:02}.md") for n in range(10)]
    assert spread(items, 4) == [Path("00.md"), Path("02.md"), Path("05.md"), Path("07.md")]
    assert spread(items, 20) == items
    assert prompt_for("Ignoring errors in\n a Bash script") == (
        'Write a TIL note titled "Ignoring errors in a Bash script".'
    )
