"""The authorship check: a classifier that tells the owner's writing from anyone else's,
and what share of a model's drafts it takes for the owner's.

Features: TF-IDF of character 2–4-grams within words (case kept: capitals, punctuation
and spelling habits) and of word 1–2-grams, plus the rates of common function words
("the", "of", "just", …: topic-free, the oldest authorship signal), scaled; a logistic
regression with balanced class weights over them.

"The owner" is the dataset's *train* answers; "not the owner" is whatever is available of:
the base model's own answers to the same instructions (the closest imitation of the owner
there is: same topics, not their voice), documents a source marked as someone else's
(`owned = False`), and links the owner shared that another author wrote. Texts are cut
into passages of about `PASSAGE_WORDS` words on paragraph ends, like a draft's length.

Before it scores anything, the classifier is checked on writing it did not see: grouped
k-fold cross-validation (a document's passages, and the base answers to its instructions,
stay in one fold), balanced accuracy (each side weighs half, so chance is 0.5 however
many texts each side has) with a bootstrap interval over documents. Fewer than
`MIN_OWNER_DOCUMENTS` documents of the owner's, fewer than `MIN_OTHER_TEXTS` others' texts,
or an interval that reaches down to chance: "not enough writing to judge voice", and the
check is never used to promote.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ingest.document import Document
from training import bootstrap
from training.dataset import Example, is_owners

NOT_ENOUGH = "not enough writing to judge voice"
MIN_OWNER_DOCUMENTS = 10
MIN_OTHER_TEXTS = 10
PASSAGE_WORDS = 250
FOLDS = 5
CHANCE = 0.5  # balanced accuracy of a coin, or of always answering one side

_FUNCTION_WORDS = (
    "a about after all also an and any are as at be because been but by can could did do "
    "does for from had has have he her here his how i if in into is it its just like may me "
    "more most my no not now of on one only or our out over really so some such than that "
    "the their them then there these they this those to too up us very was we were what "
    "when where which while who why will with would you your"
)
FUNCTION_WORDS = tuple(_FUNCTION_WORDS.split())
_INDEX = {word: n for n, word in enumerate(FUNCTION_WORDS)}
_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)*")


@dataclass(frozen=True)
class Writing:
    text: str
    group: str  # the document it belongs to: cross-validation never splits a group
    source: str  # "owner", "base model", "someone else"


@dataclass(frozen=True)
class VoiceCheck:
    """How well the classifier tells the owner apart on held-out writing."""

    usable: bool
    reason: str = ""  # why it is not usable ("" when it is)
    accuracy: float | None = None  # balanced accuracy, cross-validated
    low: float | None = None
    high: float | None = None
    chance: float = CHANCE
    owner_documents: int = 0
    texts: dict[str, int] | None = None  # passages per source

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> VoiceCheck:
        return cls(**data)

    def line(self) -> str:
        """One line for people: the accuracy against chance, or why there is none."""
        measured = (
            f"held-out accuracy {self.accuracy:.2f} [{self.low:.2f}, {self.high:.2f}] "
            f"vs chance {self.chance:.2f}"
            if self.accuracy is not None and self.low is not None and self.high is not None
            else ""
        )
        sources = ", ".join(f"{n} {s}" for s, n in (self.texts or {}).items())
        counted = f"{self.owner_documents} of your documents; passages: {sources or 'none'}"
        if self.usable:
            return f"voice check: {measured} ({counted})"
        detail = "; ".join(filter(None, [self.reason, measured, counted]))
        return f"voice: {NOT_ENOUGH} ({detail})"


class Attribution:
    """A fitted classifier (None when the check found it unusable) and its check."""

    def __init__(self, check: VoiceCheck, model: Any = None) -> None:
        self.check = check
        self._model = model

    def owner_probabilities(self, texts: Sequence[str]) -> list[float]:
        """P(owner) per text; empty texts count as not the owner's."""
        if self._model is None:
            raise ValueError(f"{NOT_ENOUGH}: the classifier was not trained")
        if not texts:
            return []
        owner_column = list(self._model.classes_).index(1)
        with _one_thread():
            probabilities = self._model.predict_proba(list(texts))[:, owner_column]
        return [float(p) if t.strip() else 0.0 for p, t in zip(probabilities, texts, strict=True)]


def train_attribution(
    owner: Sequence[Writing], others: Sequence[Writing], seed: int = 0
) -> Attribution:
    """Check the classifier on held-out writing; if it beats chance, fit it on everything."""
    owner, others = _passages(owner), _passages(others)
    texts = {**{"owner": len(owner)}, **_count_sources(others)}
    documents = len({w.group for w in owner})
    too_few = _too_few(documents, len(others))
    if too_few:
        return Attribution(VoiceCheck(False, too_few, owner_documents=documents, texts=texts))
    writing = [*owner, *others]
    labels = np.array([1] * len(owner) + [0] * len(others))
    with _one_thread():
        held_out = _cross_validated(writing, labels, seed)
    accuracy = _balanced_accuracy(writing, labels, held_out, seed)
    usable = accuracy.low > CHANCE
    check = VoiceCheck(
        usable,
        "" if usable else "its accuracy on held-out writing is not above chance",
        accuracy.value,
        accuracy.low,
        accuracy.high,
        owner_documents=documents,
        texts=texts,
    )
    if not usable:
        return Attribution(check)
    with _one_thread():
        return Attribution(check, _classifier(seed).fit([w.text for w in writing], labels))


@dataclass(frozen=True)
class VoiceScores:
    check: VoiceCheck
    drafts: dict[str, list[float]]  # model -> P(owner) per draft; empty when not usable
    held_out: list[float]  # P(owner) of the owner's held-out (test) answers


def judge_voice(
    train: Sequence[Example],
    test: Sequence[Example],
    others: Sequence[Writing],
    drafts: dict[str, list[str]],
    seed: int = 0,
) -> VoiceScores:
    """The check of a classifier trained on the `train` answers against `others`, and,
    when it is usable, P(owner) of each model's drafts and of the `test` answers."""
    owner = [Writing(e.answer, e.document_id, "owner") for e in train]
    attribution = train_attribution(owner, others, seed)
    if not attribution.check.usable:
        return VoiceScores(attribution.check, {}, [])
    scored = {name: attribution.owner_probabilities(texts) for name, texts in drafts.items()}
    held_out = attribution.owner_probabilities([e.answer for e in test])
    return VoiceScores(attribution.check, scored, held_out)


def owner_share(probabilities: Sequence[float], seed: int = 0) -> bootstrap.Interval:
    """The share of texts attributed to the owner (P > 0.5), with its interval."""
    return bootstrap.mean_interval([float(p > 0.5) for p in probabilities], seed)


def share_metrics(probabilities: Sequence[float], seed: int = 0) -> dict[str, float]:
    """The report's voice_share, voice_share_low and voice_share_high ({} for none)."""
    if not probabilities:
        return {}
    share = owner_share(probabilities, seed)
    return {
        "voice_share": share.value,
        "voice_share_low": share.low,
        "voice_share_high": share.high,
    }


def instructions_to_answer(
    train: Sequence[Example], reused: Sequence[Writing], wanted: int
) -> list[Example]:
    """Up to `wanted` train examples for the base model to answer, one per document not
    answered in `reused` yet; none when the owner has too few documents to check."""
    if wanted <= 0 or len({e.document_id for e in train}) < MIN_OWNER_DOCUMENTS:
        return []
    answered = {w.group for w in reused}
    first: dict[str, Example] = {}
    for example in train:
        if example.document_id not in answered:
            first.setdefault(example.document_id, example)
    return list(first.values())[:wanted]


def function_word_rates(texts: Iterable[str]) -> np.ndarray:
    """Per text, each function word's count per word."""
    rows = []
    for text in texts:
        row = np.zeros(len(FUNCTION_WORDS))
        found = _WORD.findall(text.casefold())
        for word in found:
            if (column := _INDEX.get(word)) is not None:
                row[column] += 1
        rows.append(row / max(len(found), 1))
    return np.array(rows).reshape(-1, len(FUNCTION_WORDS))


def passages(text: str, max_words: int = PASSAGE_WORDS) -> list[str]:
    """`text` in pieces of whole paragraphs of up to about `max_words` words (a longer
    paragraph is cut at its line breaks; a longer line is a piece of its own)."""
    pieces: list[str] = []
    current: list[str] = []
    count = 0
    for paragraph in _paragraphs(text, max_words):
        words = len(paragraph.split())
        if current and count + words > max_words:
            pieces.append("\n\n".join(current))
            current, count = [], 0
        current.append(paragraph)
        count += words
    if current:
        pieces.append("\n\n".join(current))
    return pieces


def _paragraphs(text: str, max_words: int) -> list[str]:
    """Blank-line paragraphs; one longer than `max_words` is cut at its line breaks."""
    found = []
    for paragraph in filter(None, (p.strip() for p in re.split(r"\n\s*\n", text))):
        if len(paragraph.split()) <= max_words:
            found.append(paragraph)
        else:
            found.extend(line.strip() for line in paragraph.splitlines() if line.strip())
    return found


def others_writing(
    documents: Iterable[Document], owner_names: Sequence[str], limit: int | None = None
) -> list[Writing]:
    """What the owner stored that is not theirs: documents a source marked as someone
    else's, and shared links by another named author (source code left out); the first
    `limit` of them."""
    found: list[Writing] = []
    for document in documents:
        if limit is not None and len(found) >= limit:
            break
        if document.meta.get("kind") == "code" or not document.text.strip():
            continue
        marked = document.owned is False
        by_another = document.owned is None and bool(document.author.strip())
        if marked or (by_another and not is_owners(document.author, owner_names)):
            found.append(Writing(document.text, f"doc:{document.id}", "someone else"))
    return found


def base_answers(dataset_folder: Path) -> list[Writing]:
    """The model's answers the preference builder paired with the owner's texts (source
    "owner" in preferences.jsonl), grouped with the document they answer."""
    path = dataset_folder / "preferences.jsonl"
    if not path.is_file():
        return []
    found = []
    for line in path.read_text(encoding="utf-8").splitlines():
        row = json.loads(line) if line.strip() else {}
        if row.get("source") == "owner" and row.get("rejected"):
            text = str(row["rejected"][0]["content"])
            found.append(Writing(text, str(row.get("document_id", "")), "base model"))
    return found


def _passages(writing: Sequence[Writing]) -> list[Writing]:
    return [
        Writing(piece, w.group, w.source)
        for w in writing
        for piece in passages(w.text)
        if piece.strip()
    ]


def _count_sources(writing: Sequence[Writing]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for w in writing:
        counts[w.source] = counts.get(w.source, 0) + 1
    return counts


def _too_few(owner_documents: int, other_texts: int) -> str:
    if owner_documents < MIN_OWNER_DOCUMENTS:
        return f"{owner_documents} of your documents to learn from; it needs {MIN_OWNER_DOCUMENTS}"
    if other_texts < MIN_OTHER_TEXTS:
        return f"{other_texts} texts by others to contrast with; it needs {MIN_OTHER_TEXTS}"
    return ""


@contextmanager
def _one_thread() -> Iterator[None]:
    """One BLAS thread: on busy shared cores, threads spinning for each other make a fit
    of a second take a minute."""
    from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

    with threadpool_limits(limits=1):
        yield


def _classifier(seed: int) -> Any:
    from sklearn.feature_extraction.text import TfidfVectorizer  # type: ignore[import-untyped]
    from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]
    from sklearn.pipeline import FeatureUnion, make_pipeline  # type: ignore[import-untyped]
    from sklearn.preprocessing import (  # type: ignore[import-untyped]
        FunctionTransformer,
        StandardScaler,
    )

    features = FeatureUnion(
        [
            ("chars", TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), lowercase=False,
                                      sublinear_tf=True, min_df=2)),
            ("words", TfidfVectorizer(analyzer="word", ngram_range=(1, 2), sublinear_tf=True,
                                      min_df=2)),
            ("function_words", make_pipeline(FunctionTransformer(function_word_rates),
                                             StandardScaler())),
        ],
        transformer_weights={"chars": 1.0, "words": 1.0, "function_words": 0.2},
    )  # fmt: skip
    regression = LogisticRegression(
        C=10.0, class_weight="balanced", max_iter=2000, random_state=seed
    )
    return make_pipeline(features, regression)


def _cross_validated(writing: Sequence[Writing], labels: np.ndarray, seed: int) -> np.ndarray:
    """Each text's label as predicted by a classifier that did not see its group."""
    from sklearn.model_selection import StratifiedGroupKFold  # type: ignore[import-untyped]

    groups = np.array([w.group for w in writing])
    folds = min(FOLDS, *(len(set(groups[labels == side])) for side in (0, 1)))
    splitter = StratifiedGroupKFold(n_splits=max(folds, 2), shuffle=True, random_state=seed)
    texts = np.array([w.text for w in writing], dtype=object)
    predicted = np.zeros(len(writing), dtype=int)
    for train, test in splitter.split(texts, labels, groups):
        if len(set(labels[train])) < 2:  # a fold without one side predicts nothing useful
            predicted[test] = 1 - labels[test]
            continue
        model = _classifier(seed).fit(list(texts[train]), labels[train])
        predicted[test] = model.predict(list(texts[test]))
    return predicted


def _balanced_accuracy(
    writing: Sequence[Writing], labels: np.ndarray, predicted: np.ndarray, seed: int
) -> bootstrap.Interval:
    """Mean of the two sides' recalls, with an interval from resampling groups."""
    names = sorted({w.group for w in writing})
    index = {name: n for n, name in enumerate(names)}
    # per group: [owner right, owner texts, others right, others texts]
    table = np.zeros((len(names), 4))
    for w, label, guess in zip(writing, labels, predicted, strict=True):
        column = 0 if label == 1 else 2
        table[index[w.group], column] += float(guess == label)
        table[index[w.group], column + 1] += 1

    def statistic(rows: np.ndarray) -> np.ndarray:
        sums = table[rows].sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            recalls = sums[:, [0, 2]] / sums[:, [1, 3]]
        return np.asarray(np.nanmean(recalls, axis=1))

    return bootstrap.interval(statistic, len(names), seed)
