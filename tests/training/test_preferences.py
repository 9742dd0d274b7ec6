"""The preference dataset for DPO: feedback pairs from real stored drafts, owner pairs from
the train split only, the files, and the real model's answers as the rejected side."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import AsyncGenerator, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from bot.config import load_config
from bot.twin import Twin
from core.errors import InputError
from ingest.warehouse.store import Warehouse
from model.generator import GenerationEvent, GenerationParams, Message, TextDelta
from model.hf import HfGenerator
from model.records import DraftRecord, DraftStore, Feedback
from tests.model.recording import RecordingGenerator
from training.dataset import DatasetStats, Example, save_dataset
from training.dataset_build import build_preference_dataset
from training.preferences import (
    PreferencePair,
    PreferenceStats,
    build_preferences,
    feedback_pairs,
    load_preferences,
    owner_pairs,
    save_preferences,
    train_examples,
)
from training.settings import TrainingSettings

Rated = list[tuple[DraftRecord, list[Feedback]]]


def draft(
    prompt: str, output: str, *, fmt: str = "thread", reason: str = "stop", minute: int = 0
) -> DraftRecord:
    return DraftRecord(
        prompt=prompt,
        format=fmt,
        output=output,
        finish_reason=reason,
        backend="hf",
        model_id="smollm2.gguf",
        model_version="base",
        created_at=datetime(2026, 11, 1, tzinfo=UTC) + timedelta(minutes=minute),
    )


@pytest.fixture
def store(tmp_path: Path) -> Iterator[DraftStore]:
    with Warehouse(f"sqlite:///{tmp_path / 'warehouse' / 'warehouse.db'}") as warehouse:
        yield DraftStore(warehouse)


def saved(store: DraftStore, *drafts: DraftRecord) -> list[DraftRecord]:
    return [store.save(d) for d in drafts]


def example(n: int, *, part: int = 0) -> Example:
    return Example(
        document_id=f"doc{n}",
        url=f"https://example.com/{n}",
        platform="linkedin",
        title=f"Post {n}",
        instruction=f"Write a LinkedIn post about post {n}.",
        answer=f"My own post number {n}, in my own words.",
        part=part,
    )


def pair(n: int, source: str = "edit") -> PreferencePair:
    return PreferencePair(f"prompt {n}", f"good {n}", f"bad {n}", source, (f"d{n}",))


def test_rated_drafts_come_with_their_feedback_in_two_queries(warehouse_url: str) -> None:
    with Warehouse(warehouse_url) as warehouse:
        store = DraftStore(warehouse)
        first, unrated, second = saved(
            store, *(draft(f"p{i}", f"out {i}", minute=i) for i in range(3))
        )
        store.add_feedback(second.id, user="owner", rating=-1)
        store.add_feedback(first.id, user="owner", rating=1)
        store.add_feedback(first.id, user="owner", edited_text="mine", comment="tighter")
        statements: list[str] = []
        sa.event.listen(
            warehouse.engine,
            "before_cursor_execute",
            lambda conn, cursor, statement, *rest: statements.append(statement),
        )
        rated = store.rated_drafts()
        selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
        assert len(selects) == 2  # not one query per draft
        assert [(d, [(f.rating, f.edited_text) for f in items]) for d, items in rated] == [
            (first, [(1, None), (None, "mine")]),
            (second, [(-1, None)]),
        ]
        assert unrated.id not in {d.id for d, _ in rated}


def test_an_edit_is_chosen_over_the_draft_it_corrects(store: DraftStore) -> None:
    edited, untouched = saved(
        store,
        draft("ship  small", "1/ Ship it.\n\n2/ Measure."),
        draft("on call", "1/ Stay calm."),
    )
    store.add_feedback(edited.id, user="owner", edited_text="1/ Ship it today.")
    store.add_feedback(edited.id, user="owner", edited_text="1/ Ship it today.\n\n2/ Then look.")
    store.add_feedback(untouched.id, user="owner", edited_text="  1/ Stay\ncalm. ")
    skipped: Counter[str] = Counter()
    pairs = feedback_pairs(store.rated_drafts(), skipped=skipped)
    assert pairs == [
        PreferencePair(
            "Write an X thread: ship small",
            "1/ Ship it today.\n\n2/ Then look.",  # the latest edit
            "1/ Ship it.\n\n2/ Measure.",
            "edit",
            (edited.id,),
        )
    ]
    assert skipped == {"edit unchanged": 1}  # only whitespace changed


def test_thumbs_pair_within_one_prompt_and_format_never_across(store: DraftStore) -> None:
    up, down, flipped, other_prompt, other_format = saved(
        store,
        draft("Ship small", "up text", minute=0),
        draft("ship   small ", "down text", minute=1),  # the same prompt, spaced and cased
        draft("ship small", "flipped text", minute=2),
        draft("measure first", "other prompt text", minute=3),
        draft("ship small", "other format text", fmt="linkedin", minute=4),
    )
    for d, rating in [(up, 1), (down, -1), (flipped, -1), (flipped, 1), (other_prompt, -1)]:
        store.add_feedback(d.id, user="owner", rating=rating)
    store.add_feedback(other_format.id, user="owner", rating=-1)
    skipped: Counter[str] = Counter()
    pairs = feedback_pairs(store.rated_drafts(), skipped=skipped)
    # `flipped` was 👎 then 👍: its latest rating counts, so both 👍 meet the one 👎.
    assert [(p.chosen, p.rejected) for p in pairs] == [
        ("flipped text", "down text"),
        ("up text", "down text"),
    ]
    # The prompt is the 👍 draft's own wording.
    assert [(p.source, p.prompt) for p in pairs] == [
        ("rating", "Write an X thread: ship small"),
        ("rating", "Write an X thread: Ship small"),
    ]
    assert [p.draft_ids for p in pairs] == [(flipped.id, down.id), (up.id, down.id)]
    assert skipped == {"no opposite rating": 2}


def test_unfinished_drafts_give_no_pairs(store: DraftStore) -> None:
    cancelled, timed_out, up, cut_at_cap = saved(
        store,
        draft("p", "1/ Half a", reason="cancelled"),
        draft("p", "1/ Slow", reason="timeout"),
        draft("p", "1/ Good", minute=1),
        draft("p", "1/ Long but whole", reason="length", minute=2),
    )
    store.add_feedback(cancelled.id, user="owner", edited_text="1/ My whole thread.")
    store.add_feedback(timed_out.id, user="owner", rating=-1)
    store.add_feedback(up.id, user="owner", rating=1)
    store.add_feedback(cut_at_cap.id, user="owner", rating=-1)
    skipped: Counter[str] = Counter()
    pairs = feedback_pairs(store.rated_drafts(), skipped=skipped)
    # A draft cut at the token cap is a whole answer; a cancelled or timed-out one is not.
    assert [(p.chosen, p.rejected) for p in pairs] == [("1/ Good", "1/ Long but whole")]
    assert skipped == {"unfinished draft": 2}


def test_pairs_are_capped_per_prompt_spread_over_drafts_and_deduplicated(
    store: DraftStore,
) -> None:
    ups = saved(store, *(draft("p", f"up {i}", minute=i) for i in range(3)))
    downs = saved(store, *(draft("p", f"down {i}", minute=10 + i) for i in range(3)))
    twins = saved(store, draft("q", "q up"), draft("q", "q down"), draft("q", "q down"))
    for d in ups + twins[:1]:
        store.add_feedback(d.id, user="owner", rating=1)
    for d in downs + twins[1:]:
        store.add_feedback(d.id, user="owner", rating=-1)
    skipped: Counter[str] = Counter()
    pairs = feedback_pairs(store.rated_drafts(), per_prompt=4, skipped=skipped)
    capped = [p for p in pairs if p.prompt.endswith(": p")]
    assert len(capped) == 4
    assert len({p.chosen for p in capped}) >= 2 and len({p.rejected for p in capped}) >= 2
    assert ("up 2", "down 2") in {(p.chosen, p.rejected) for p in capped}  # newest first
    assert [(p.chosen, p.rejected) for p in pairs if p.prompt.endswith(": q")] == [
        ("q up", "q down")  # two 👎 drafts with the same text make one pair
    ]
    assert skipped == {"over per-prompt cap": 5, "duplicate": 1}


async def test_owner_pairs_come_from_the_train_split_only(tmp_path: Path) -> None:
    train = [example(n) for n in range(6)]
    test = [example(90), example(91)]
    built = save_dataset(tmp_path, train, test, DatasetStats())
    asked: list[str] = []

    async def answer(instruction: str) -> str:
        asked.append(instruction)
        n = int(instruction.split()[-1].rstrip("."))
        return {0: "", 1: f"My own post number {n},\nin my own words."}.get(n, f"Model {n}")

    examples = train_examples(built.folder)
    assert examples == train
    skipped: Counter[str] = Counter()
    pairs = await owner_pairs(examples, answer, 5, skipped=skipped)
    assert len(asked) == 5 and len(pairs) + sum(skipped.values()) == 5
    assert not {p.document_id for p in pairs} & {"doc90", "doc91"}
    for p in pairs:
        n = int(p.document_id.removeprefix("doc"))
        assert (p.source, p.prompt) == ("owner", example(n).instruction)
        assert (p.chosen, p.rejected) == (example(n).answer, f"Model {n}")
    asked.clear()
    again = await owner_pairs(list(reversed(examples)), answer, 5)
    assert again == pairs  # the same examples whatever the order given

    # A document in both files (a hand-edited folder) is dropped from train, not leaked.
    with (built.folder / "test.jsonl").open("a") as f:
        f.write(json.dumps(example(3).to_json()) + "\n")
    assert "doc3" not in {e.document_id for e in train_examples(built.folder)}
    with pytest.raises(InputError, match=r"no train\.jsonl here; build the instruction dataset"):
        train_examples(tmp_path / "missing")


async def test_owner_pairs_top_up_only_when_feedback_is_thin(store: DraftStore) -> None:
    for i in range(2):
        d = saved(store, draft(f"p{i}", f"draft {i}"))[0]
        store.add_feedback(d.id, user="owner", edited_text=f"mine {i}")
    rated: Rated = store.rated_drafts()
    train = [example(n) for n in range(5)]
    asked: list[str] = []

    async def answer(instruction: str) -> str:
        asked.append(instruction)
        return "model text " + instruction

    settings = TrainingSettings(min_preference_pairs=2, synthetic_pairs=3)
    pairs, stats = await build_preferences(rated, train, answer, settings)
    assert asked == [] and stats.pairs == {"edit": 2} and stats.owner_examples_asked == 0
    settings = TrainingSettings(min_preference_pairs=3, synthetic_pairs=3)
    pairs, stats = await build_preferences(rated, train, answer, settings)
    assert len(asked) == 3 and stats.pairs == {"edit": 2, "owner": 3}
    assert [p.source for p in pairs] == ["edit", "edit", "owner", "owner", "owner"]
    assert stats.total == 5 and stats.drafts_with_feedback == 2
    assert stats.to_json()["pairs"] == {"edit": 2, "owner": 3}


def test_saved_pairs_load_in_the_format_trls_dpo_trainer_reads(
    tmp_path: Path, smol: HfGenerator
) -> None:
    from trl.data_utils import is_conversational, maybe_apply_chat_template

    pairs = [pair(1), pair(2, "rating"), pair(3, "owner")]
    stats = PreferenceStats(pairs=Counter(p.source for p in pairs))
    path = save_preferences(tmp_path, pairs, stats)
    assert path == tmp_path / "preferences.jsonl"
    first = json.loads(path.read_text().splitlines()[0])
    assert first == {
        "prompt": [{"role": "user", "content": "prompt 1"}],
        "chosen": [{"role": "assistant", "content": "good 1"}],
        "rejected": [{"role": "assistant", "content": "bad 1"}],
        "source": "edit",
        "draft_ids": ["d1"],
        "document_id": "",
    }
    saved_stats = json.loads((tmp_path / "preferences_stats.json").read_text())
    assert saved_stats["total"] == 3 and saved_stats["pairs"] == {
        "edit": 1,
        "rating": 1,
        "owner": 1,
    }
    assert not list(tmp_path.glob(".*partial"))

    dataset = load_preferences(tmp_path)
    assert dataset.column_names == ["prompt", "chosen", "rejected"] and dataset.num_rows == 3
    row: dict[str, Any] = dataset[2]
    assert row == {k: v for k, v in pair(3, "owner").to_json().items() if k in row}
    assert is_conversational(row)
    text = maybe_apply_chat_template(row, smol.tokenizer)
    assert text["prompt"].endswith("<|im_start|>assistant\n") and "prompt 3" in text["prompt"]
    assert text["chosen"].startswith("good 3") and text["rejected"].startswith("bad 3")


def test_too_few_pairs_are_refused_with_how_to_get_more(tmp_path: Path) -> None:
    stats = PreferenceStats(synthetic_pairs=0, skipped=Counter({"unfinished draft": 3}))
    with pytest.raises(InputError, match=r"only 1 preference pair \(DPO needs at least 2") as e:
        save_preferences(tmp_path, [pair(1)], stats)
    assert "rate drafts 👍 and 👎" in e.value.reason and "edited version" in e.value.reason
    assert "training.synthetic_pairs (now 0)" in e.value.reason
    assert "unfinished draft" in e.value.reason and e.value.source == str(tmp_path)
    assert not (tmp_path / "preferences.jsonl").exists()
    with pytest.raises(InputError, match=r"no preferences\.jsonl here; build the preference"):
        load_preferences(tmp_path)
    (tmp_path / "preferences.jsonl").write_text(json.dumps(pair(1).to_json()) + "\n")
    with pytest.raises(InputError, match="only 1 preference pair"):
        load_preferences(tmp_path)


class ReplyRecorder(RecordingGenerator):
    """The real model, with what it was asked and what it answered."""

    replies: list[str]

    async def stream(
        self, messages: Sequence[Message], params: GenerationParams
    ) -> AsyncGenerator[GenerationEvent, None]:
        text = []
        async for event in super().stream(messages, params):
            if isinstance(event, TextDelta):
                text.append(event.text)
            yield event
        self.replies.append("".join(text))


@pytest.mark.slow
async def test_the_rejected_side_is_the_real_models_answer(
    tmp_path: Path, smol: HfGenerator
) -> None:
    model = ReplyRecorder(smol)
    model.replies = []
    config = load_config({"training.max_answer_tokens": "32", "training.synthetic_pairs": "2"})
    twin = Twin(config, generator=model)
    try:
        train = [example(n) for n in range(3)]
        built = save_dataset(tmp_path, train, [example(9)], DatasetStats())
        edited = twin.drafts.save(draft("ship small", "1/ Ship it."))
        twin.drafts.add_feedback(edited.id, user="owner", edited_text="1/ Ship it today.")

        stats = await build_preference_dataset(twin.training_context(), built.folder)
    finally:
        await twin.aclose()
    assert stats.pairs == {"edit": 1, "owner": 2}  # 1 < training.min_preference_pairs
    rows = [
        json.loads(line) for line in (built.folder / "preferences.jsonl").read_text().splitlines()
    ]
    owner = [r for r in rows if r["source"] == "owner"]
    assert len(model.calls) == 2 and len(owner) == 2
    for (messages, params), reply, row in zip(model.calls, model.replies, owner, strict=True):
        answer = next(e.answer for e in train if e.document_id == row["document_id"])
        assert messages == [Message("user", row["prompt"][0]["content"])]
        assert (params.temperature, params.max_new_tokens) == (0.0, 32)
        assert row["rejected"][0]["content"] == reply.strip() != ""
        assert row["chosen"][0]["content"] == answer
    assert load_preferences(built.folder).num_rows == 3
