"""The preference dataset for DPO: what the owner preferred, against what a model wrote.

Three sources, best first:
- "edit": the owner's edited version of a draft (chosen) against the draft (rejected);
- "rating": a 👍 draft against a 👎 draft for the same prompt and format;
- "owner": only where feedback is thin, the owner's real text from the *train* split
  (chosen) against the base model's answer to the same instruction (rejected). Test
  documents never appear, so evaluation does not measure what DPO was shown.

Only finished drafts count ("stop", or "length": a whole answer cut at the token cap). A
cancelled, failed or timed-out draft is a fragment the owner may never have read to the
end: as the rejected side it would teach "write more", not "write like the owner", and
its 👍/👎 or edit judged a stream cut short. Such drafts are skipped and counted.

Pairs are in TRL's conversational preference format (prompt/chosen/rejected message
lists). Prompts are a bare instruction in a user turn, as in the instruction dataset.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.errors import InputError
from model.records import DraftRecord, Feedback
from training.dataset import Example, read_split
from training.settings import TrainingSettings

if TYPE_CHECKING:
    from datasets import Dataset

ModelAnswer = Callable[[str], Awaitable[str]]

MIN_PAIRS = 2  # fewer gives DPO nothing to contrast
PAIRS_FILE = "preferences.jsonl"
STATS_FILE = "preferences_stats.json"
FINISHED = frozenset({"stop", "length"})

_FORMAT_ASK = {
    "linkedin": "Write a LinkedIn post: {prompt}",
    "thread": "Write an X thread: {prompt}",
    "article": "Write an article outline: {prompt}",
}


@dataclass(frozen=True)
class PreferencePair:
    prompt: str
    chosen: str
    rejected: str
    source: str  # "edit" | "rating" | "owner"
    draft_ids: tuple[str, ...] = ()
    document_id: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "prompt": [{"role": "user", "content": self.prompt}],
            "chosen": [{"role": "assistant", "content": self.chosen}],
            "rejected": [{"role": "assistant", "content": self.rejected}],
            "source": self.source,
            "draft_ids": list(self.draft_ids),
            "document_id": self.document_id,
        }


@dataclass
class PreferenceStats:
    drafts_with_feedback: int = 0
    pairs: Counter[str] = field(default_factory=Counter)  # per source
    skipped: Counter[str] = field(default_factory=Counter)  # per reason
    owner_examples_asked: int = 0
    min_pairs: int = 0
    synthetic_pairs: int = 0

    @property
    def total(self) -> int:
        return sum(self.pairs.values())

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["pairs"], data["skipped"] = dict(self.pairs), dict(self.skipped)
        return {**data, "total": self.total}


def draft_instruction(draft: DraftRecord) -> str:
    """The draft's request as a self-contained instruction (the format spelled out)."""
    prompt = " ".join(draft.prompt.split())
    return _FORMAT_ASK.get(draft.format, "{prompt}").format(prompt=prompt)


def feedback_pairs(
    rated: Sequence[tuple[DraftRecord, Sequence[Feedback]]],
    *,
    per_prompt: int = 4,
    skipped: Counter[str] | None = None,
) -> list[PreferencePair]:
    """Edit pairs (the latest edit of each draft), then 👍 x 👎 pairs within each
    (prompt, format) group, at most `per_prompt` per group, drawn so that as many
    different drafts as possible take part. The latest rating of a draft wins."""
    skipped = Counter() if skipped is None else skipped
    pairs: list[PreferencePair] = []
    seen: set[tuple[str, str, str]] = set()
    groups: dict[tuple[str, str], tuple[list[DraftRecord], list[DraftRecord]]] = {}
    for draft, items in rated:
        if draft.finish_reason not in FINISHED:
            skipped["unfinished draft"] += 1
            continue
        if not draft.output.strip():
            skipped["empty draft"] += 1
            continue
        edit = _edit_pair(draft, items, skipped)
        if edit is not None:
            pairs += _dedupe([edit], seen, skipped)
        ratings = [f.rating for f in items if f.rating]
        if ratings:
            key = (_key(draft.prompt), draft.format)
            ups, downs = groups.setdefault(key, ([], []))
            (ups if ratings[-1] > 0 else downs).append(draft)
    for ups, downs in groups.values():
        if not ups or not downs:
            skipped["no opposite rating"] += len(ups) + len(downs)
            continue
        pairs += _rating_pairs(ups, downs, per_prompt, seen, skipped)
    return pairs


def _edit_pair(
    draft: DraftRecord, items: Sequence[Feedback], skipped: Counter[str]
) -> PreferencePair | None:
    """The draft's latest edit against the draft, if it was edited at all."""
    edits = [f.edited_text for f in items if f.edited_text and f.edited_text.strip()]
    if not edits:
        return None
    if _same(edits[-1], draft.output):
        skipped["edit unchanged"] += 1
        return None
    return PreferencePair(
        draft_instruction(draft),
        edits[-1].strip(),
        draft.output.strip(),
        "edit",
        (draft.id,),
    )


def _rating_pairs(
    ups: list[DraftRecord],
    downs: list[DraftRecord],
    per_prompt: int,
    seen: set[tuple[str, str, str]],
    skipped: Counter[str],
) -> list[PreferencePair]:
    """👍 x 👎 pairs of one (prompt, format) group, at most `per_prompt` of them."""
    # Newest first, then diagonals: with a cap, 2 👍 x 3 👎 gives (0,0) (0,1) (1,0)
    # (0,2) rather than one 👍 against every 👎.
    ups, downs = ups[::-1], downs[::-1]
    order = sorted(
        ((i, j) for i in range(len(ups)) for j in range(len(downs))),
        key=lambda ij: (ij[0] + ij[1], ij[0]),
    )
    pairs: list[PreferencePair] = []
    for i, j in order:
        up, down = ups[i], downs[j]
        if _same(up.output, down.output):
            skipped["same text"] += 1
            continue
        rating = PreferencePair(
            draft_instruction(up),
            up.output.strip(),
            down.output.strip(),
            "rating",
            (up.id, down.id),
        )
        if _pair_key(rating) in seen:
            skipped["duplicate"] += 1
        elif len(pairs) == per_prompt:
            skipped["over per-prompt cap"] += 1
        else:
            pairs += _dedupe([rating], seen, skipped)
    return pairs


async def owner_pairs(
    examples: Sequence[Example],
    answer: ModelAnswer,
    limit: int,
    *,
    skipped: Counter[str] | None = None,
) -> list[PreferencePair]:
    """The owner's answer against the model's, for up to `limit` examples chosen by a hash
    (the same ones every run). Pass *train* examples only."""
    skipped = Counter() if skipped is None else skipped
    chosen = sorted(examples, key=_example_rank)[: max(limit, 0)]
    # All asked at once, so a backend that batches can; a failure cancels the rest and
    # propagates as itself (a TaskGroup would wrap it in an ExceptionGroup).
    tasks = [asyncio.ensure_future(answer(e.instruction)) for e in chosen]
    try:
        replies = await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
    pairs = []
    for example, reply in zip(chosen, (r.strip() for r in replies), strict=True):
        if not reply:
            skipped["no model answer"] += 1
        elif _same(reply, example.answer):
            skipped["model answer is the owner's"] += 1
        else:
            pairs.append(
                PreferencePair(
                    example.instruction,
                    example.answer.strip(),
                    reply,
                    "owner",
                    document_id=example.document_id,
                )
            )
    return pairs


async def build_preferences(
    rated: Sequence[tuple[DraftRecord, Sequence[Feedback]]],
    train: Sequence[Example],
    answer: ModelAnswer,
    settings: TrainingSettings,
) -> tuple[list[PreferencePair], PreferenceStats]:
    """Every feedback pair; owner pairs (asking the model) only when those are fewer than
    `settings.min_preference_pairs`, then up to `settings.synthetic_pairs` of them."""
    stats = PreferenceStats(
        drafts_with_feedback=len(rated),
        min_pairs=settings.min_preference_pairs,
        synthetic_pairs=settings.synthetic_pairs,
    )
    pairs = feedback_pairs(rated, per_prompt=settings.pairs_per_prompt, skipped=stats.skipped)
    if len(pairs) < settings.min_preference_pairs and settings.synthetic_pairs > 0:
        stats.owner_examples_asked = min(len(train), settings.synthetic_pairs)
        extra = await owner_pairs(train, answer, settings.synthetic_pairs, skipped=stats.skipped)
        pairs += _dedupe(extra, {_pair_key(p) for p in pairs}, stats.skipped)
    stats.pairs = Counter(p.source for p in pairs)
    return pairs, stats


def train_examples(folder: Path) -> list[Example]:
    """The train split of a saved instruction dataset, minus any document that is also in
    its test split (so a hand-edited folder cannot leak test text into training)."""
    train = read_split(folder, "train")
    test_ids = {e.document_id for e in read_split(folder, "test", required=False)}
    return [e for e in train if e.document_id not in test_ids]


def save_preferences(folder: Path, pairs: Sequence[PreferencePair], stats: PreferenceStats) -> Path:
    """Write preferences.jsonl and preferences_stats.json into the dataset folder, each
    written aside and renamed over the old one. Refuses fewer than `MIN_PAIRS` pairs."""
    if len(pairs) < MIN_PAIRS:
        raise _too_few(folder, len(pairs), stats)
    text = "".join(json.dumps(p.to_json(), ensure_ascii=False) + "\n" for p in pairs)
    data = {**stats.to_json(), "sha256": hashlib.sha256(text.encode()).hexdigest()}
    folder.mkdir(parents=True, exist_ok=True)
    _write_atomic(folder / PAIRS_FILE, text)
    _write_atomic(folder / STATS_FILE, json.dumps(data, indent=2, ensure_ascii=False))
    return folder / PAIRS_FILE


def load_preferences(folder: Path) -> Dataset:
    """The saved pairs as a `datasets.Dataset` with TRL's prompt/chosen/rejected columns."""
    from datasets import Dataset

    path = folder / PAIRS_FILE
    if not path.is_file():
        raise InputError(str(folder), f"no {PAIRS_FILE} here; build the preference dataset first")
    rows = _read_jsonl(path)
    if len(rows) < MIN_PAIRS:
        raise _too_few(folder, len(rows), None)
    return Dataset.from_list([{k: r[k] for k in ("prompt", "chosen", "rejected")} for r in rows])


def _too_few(folder: Path, count: int, stats: PreferenceStats | None) -> InputError:
    skipped = f"; skipped: {dict(stats.skipped)}" if stats and stats.skipped else ""
    synthetic = f" (now {stats.synthetic_pairs})" if stats else ""
    return InputError(
        str(folder),
        f"only {count} preference pair{'' if count == 1 else 's'} (DPO needs at least "
        f"{MIN_PAIRS}{skipped}); rate drafts 👍 and 👎 (a 👍 and a 👎 draft for the same "
        "prompt make a pair), reply to drafts with your edited version, or raise "
        f"training.synthetic_pairs{synthetic} to pair more of your own texts with the "
        "model's answers",
    )


def _dedupe(
    pairs: Iterable[PreferencePair], seen: set[tuple[str, str, str]], skipped: Counter[str]
) -> list[PreferencePair]:
    kept = []
    for pair in pairs:
        key = _pair_key(pair)
        if key in seen:
            skipped["duplicate"] += 1
            continue
        seen.add(key)
        kept.append(pair)
    return kept


def _pair_key(pair: PreferencePair) -> tuple[str, str, str]:
    return _key(pair.prompt), _space(pair.chosen), _space(pair.rejected)


def _example_rank(example: Example) -> bytes:
    return hashlib.sha256(f"{example.document_id}:{example.part}".encode()).digest()


def _same(a: str, b: str) -> bool:
    return _space(a) == _space(b)


def _space(text: str) -> str:
    return " ".join(text.split())


def _key(text: str) -> str:
    return _space(text).casefold()


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


def _write_atomic(path: Path, text: str) -> None:
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)
