"""The instruction dataset: the owner's own writing as (instruction, answer) pairs.

Every answer is the owner's real text: a whole document, or an extract of a long one cut
on paragraph boundaries. Only the owner's documents count (`owner.names`, author names and
handles; "*" takes every author); others are excluded and counted, and so is whatever a
source marked as someone else's (a repost, a guest post, a quote) whoever the author.
A document the source vouches for (an export's own posts) with no author name counts as
the owner's. Source code (GitHub files marked as code) is searched but not trained on.
Instructions come from a template built from the title and platform ("Write a LinkedIn
post about …"), or from the current model asked what request the text answers (falling
back to the template when its answer is unusable). Exact duplicates and too-short texts
are dropped, and the train/test split is by *document*, so no extract of a test document
is trained on.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import shutil
import statistics
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from core.errors import InputError
from core.files import write_atomically
from ingest.document import Document
from training.settings import TrainingSettings

TokenCounter = Callable[[str], int]
InstructionWriter = Callable[[Document, str], Awaitable[str | None]]

_PLATFORM_ASK = {
    "linkedin": "Write a LinkedIn post about {topic}.",
    "x": "Write a post for X about {topic}.",
    "github": "Write the README section about {topic}.",
    "medium": 'Write a blog post titled "{title}".',
    "substack": 'Write a newsletter issue titled "{title}".',
}
_DEFAULT_ASK = 'Write an article titled "{title}".'


@dataclass(frozen=True)
class Example:
    document_id: str
    url: str
    platform: str
    title: str
    instruction: str
    answer: str
    part: int = 0  # extract number within its document (0: the whole document)
    instruction_source: str = "template"  # or "model"

    def messages(self) -> list[dict[str, str]]:
        return [
            {"role": "user", "content": self.instruction},
            {"role": "assistant", "content": self.answer},
        ]

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "messages": self.messages()}


@dataclass
class DatasetStats:
    documents_seen: int = 0
    documents_used: int = 0
    excluded: Counter[str] = field(default_factory=Counter)
    train_examples: int = 0
    test_examples: int = 0
    train_documents: int = 0
    test_documents: int = 0
    per_platform: dict[str, dict[str, int]] = field(default_factory=dict)
    answer_tokens: dict[str, float] = field(default_factory=dict)
    instruction_sources: Counter[str] = field(default_factory=Counter)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["excluded"] = dict(self.excluded)
        data["instruction_sources"] = dict(self.instruction_sources)
        return data


@dataclass(frozen=True)
class BuiltDataset:
    folder: Path
    train: list[Example]
    test: list[Example]
    stats: DatasetStats
    digest: str  # sha256 of train + test, recorded with every run trained on it


def is_owners(author: str, names: Sequence[str]) -> bool:
    """Whether `author` is one of the owner's names or handles (case, "@" and spacing
    ignored); "*" accepts everyone."""
    if "*" in names:
        return True
    wanted = {_name_key(n) for n in names if n.strip()}
    return bool(author.strip()) and _name_key(author) in wanted


def template_instruction(document: Document, part: int = 0, parts: int = 1) -> str:
    title = " ".join(document.title.split()) or _first_words(document.text)
    topic = title[:1].lower() + title[1:] if title else "this"
    ask = _PLATFORM_ASK.get(document.platform, _DEFAULT_ASK).format(title=title, topic=topic)
    if parts > 1:
        ask = f"{ask} Write part {part} of {parts}."
    return ask


def split_answer(text: str, max_tokens: int, count: TokenCounter) -> list[str]:
    """The text whole if it fits, else extracts of whole paragraphs under `max_tokens`
    (a single longer paragraph is cut at sentence ends)."""
    text = text.strip()
    if count(text) <= max_tokens:
        return [text]
    pieces: list[str] = []
    for paragraph in re.split(r"\n\s*\n", text):
        if count(paragraph) <= max_tokens:
            pieces.append(paragraph.strip())
        else:
            pieces.extend(s.strip() for s in re.split(r"(?<=[.!?])\s+", paragraph))
    extracts: list[str] = []
    current = ""
    for piece in filter(None, pieces):
        candidate = f"{current}\n\n{piece}" if current else piece
        if current and count(candidate) > max_tokens:
            extracts.append(current)
            current = piece
        else:
            current = candidate
    if current:
        extracts.append(current)
    return extracts


async def build_examples(
    documents: Iterable[Document],
    settings: TrainingSettings,
    owner_names: Sequence[str],
    count: TokenCounter,
    write_instruction: InstructionWriter | None = None,
) -> tuple[list[Example], list[Example], DatasetStats]:
    """The (train, test) examples of the documents by `owner_names` ("*": every author),
    and their stats; `InputError` when too few are usable."""
    stats = DatasetStats()
    seen_answers: set[str] = set()
    train: list[Example] = []
    test: list[Example] = []
    for document in documents:
        stats.documents_seen += 1
        why = _excluded_why(document, settings, owner_names, seen_answers)
        extracts = _extracts(document.text, settings, count) if why is None else []
        if why is None and not extracts:
            why = "too short"  # long enough whole, but no extract is on its own
        if why is not None:
            stats.excluded[why] += 1
            continue
        examples = await _examples(document, extracts, write_instruction, stats)
        stats.documents_used += 1
        in_test = _in_test(document.id, settings)
        (test if in_test else train).extend(examples)
        if in_test:
            stats.test_documents += 1
        else:
            stats.train_documents += 1
        counts = stats.per_platform.setdefault(document.platform, {"train": 0, "test": 0})
        counts["test" if in_test else "train"] += len(examples)
    _check_enough(stats, settings, owner_names)
    if not test and len(train) > 1:  # small corpora still get a held-out document
        train, test = _hold_out_last(train, stats)
    stats.train_examples, stats.test_examples = len(train), len(test)
    lengths = [count(e.answer) for e in [*train, *test]]
    stats.answer_tokens = {
        "min": min(lengths),
        "median": statistics.median(lengths),
        "max": max(lengths),
        "total": sum(lengths),
    }
    return train, test, stats


def _excluded_why(
    document: Document,
    settings: TrainingSettings,
    owner_names: Sequence[str],
    seen_answers: set[str],
) -> str | None:
    """Why `document` is not trained on (the `excluded` key), or None; the text of a
    document kept is remembered in `seen_answers`, so a later copy is a duplicate."""
    if document.owned is False:  # a repost, guest post or quote the source marked
        return "by someone else"
    if document.meta.get("kind") == "code":  # searchable, but not the voice of a post
        return "source code"
    vouched = document.owned is True and not document.author.strip()
    if not (vouched or is_owners(document.author, owner_names)):
        return "other author" if document.author.strip() else "no author"
    key = _normalized(document.text)
    if len(document.text.split()) < settings.min_answer_words:
        return "too short"
    if key in seen_answers:
        return "duplicate"
    seen_answers.add(key)
    return None


def _extracts(text: str, settings: TrainingSettings, count: TokenCounter) -> list[str]:
    extracts = split_answer(text, settings.max_answer_tokens, count)
    return [e for e in extracts if len(e.split()) >= settings.min_answer_words]


async def _examples(
    document: Document,
    extracts: list[str],
    write_instruction: InstructionWriter | None,
    stats: DatasetStats,
) -> list[Example]:
    """One example per extract. The model writes the instruction only of a lone extract:
    a numbered part keeps its template's "part n of m"."""
    examples = []
    for number, answer in enumerate(extracts, 1):
        part = number if len(extracts) > 1 else 0
        instruction, origin = template_instruction(document, number, len(extracts)), "template"
        if write_instruction is not None and part == 0:
            written = await write_instruction(document, answer)
            if written:
                instruction, origin = written, "model"
        stats.instruction_sources[origin] += 1
        examples.append(
            Example(
                document.id,
                document.url,
                document.platform,
                document.title,
                instruction,
                answer,
                part,
                origin,
            )
        )
    return examples


def _hold_out_last(
    train: list[Example], stats: DatasetStats
) -> tuple[list[Example], list[Example]]:
    """(train, test) with the last training document moved to test, and `stats` moved
    with it."""
    last = train[-1].document_id
    test = [e for e in train if e.document_id == last]
    train = [e for e in train if e.document_id != last]
    stats.train_documents -= 1
    stats.test_documents += 1
    platform = test[0].platform
    stats.per_platform[platform]["train"] -= len(test)
    stats.per_platform[platform]["test"] += len(test)
    return train, test


def save_dataset(
    root: Path, train: list[Example], test: list[Example], stats: DatasetStats
) -> BuiltDataset:
    """Write train.jsonl, test.jsonl and stats.json into a folder named by their hash
    (written aside and renamed: a crash leaves no half dataset)."""
    lines = {
        "train": "".join(json.dumps(e.to_json(), ensure_ascii=False) + "\n" for e in train),
        "test": "".join(json.dumps(e.to_json(), ensure_ascii=False) + "\n" for e in test),
    }
    digest = hashlib.sha256((lines["train"] + "\0" + lines["test"]).encode()).hexdigest()
    folder = root / digest[:16]
    if not (folder / "stats.json").is_file():
        # Each writer its own partial folder: two processes building the same dataset
        # at once both finish, and the second finds the first's folder in place.
        partial = root / f".{digest[:16]}.{secrets.token_hex(4)}.partial"
        partial.mkdir(parents=True)
        try:
            for split, text in lines.items():
                (partial / f"{split}.jsonl").write_text(text, encoding="utf-8")
            data = {**stats.to_json(), "sha256": digest}
            (partial / "stats.json").write_text(json.dumps(data, indent=2), encoding="utf-8")
            partial.rename(folder)
        except OSError:
            if not (folder / "stats.json").is_file():
                raise
        finally:
            shutil.rmtree(partial, ignore_errors=True)
    write_atomically(root / "LATEST", folder.name + "\n")
    return BuiltDataset(folder, train, test, stats, digest)


def read_split(folder: Path, split: str, *, required: bool = True) -> list[Example]:
    """The examples of `split` ("train" or "test") in a folder `save_dataset` wrote."""
    path = folder / f"{split}.jsonl"
    if not path.is_file():
        if required:
            raise InputError(
                str(folder),
                f"no {split}.jsonl here; build the instruction dataset first "
                "(`llm-twin dataset build` writes it)",
            )
        return []
    known = {f.name for f in fields(Example)}
    examples = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            examples.append(Example(**{k: v for k, v in data.items() if k in known}))
        except (ValueError, TypeError) as exc:
            raise InputError(
                str(path), f"line {number} is not an example ({exc}); rebuild the dataset"
            ) from exc
    return examples


def _check_enough(
    stats: DatasetStats, settings: TrainingSettings, owner_names: Sequence[str]
) -> None:
    owners = ", ".join(owner_names) or "(none)"
    if stats.documents_seen == 0:
        raise InputError(
            "dataset", "the warehouse holds no documents yet; ingest your writing first"
        )
    if stats.documents_used == 0 and stats.excluded["other author"] + stats.excluded[
        "no author"
    ] + stats.excluded["by someone else"] + stats.excluded["source code"] == sum(
        stats.excluded.values()
    ):
        authors = "other authors" if stats.excluded["other author"] else "no author"
        raise InputError(
            "dataset",
            f"none of the {stats.documents_seen} documents is by owner.names [{owners}] "
            f"(they have {authors}); set owner.names to your author names and handles, "
            'or ["*"] if everything ingested is yours',
        )
    if stats.documents_used < settings.min_documents:
        raise InputError(
            "dataset",
            f"only {stats.documents_used} usable documents of yours "
            f"(need at least {settings.min_documents}; excluded: "
            f"{dict(stats.excluded) or 'none'}); ingest more of your writing",
        )


def _in_test(document_id: str, settings: TrainingSettings) -> bool:
    digest = hashlib.sha256(f"{settings.split_seed}:{document_id}".encode()).digest()
    return int.from_bytes(digest[:4], "big") / 2**32 < settings.test_fraction


def _name_key(name: str) -> str:
    return " ".join(name.strip().lstrip("@").casefold().split())


def _normalized(text: str) -> str:
    return hashlib.sha256(" ".join(text.casefold().split()).encode()).hexdigest()


def _first_words(text: str, words: int = 8) -> str:
    return " ".join(text.split()[:words])
