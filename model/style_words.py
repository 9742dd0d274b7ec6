"""Signature words and phrases: what the owner says far more often than English does.

The baseline is `model/data/english_words.tsv` (general-English frequencies from Google
Books Ngram data; where it comes from: `model/data/README.md`). A word missing from it is
taken to be as rare as `FLOOR` (half the rarest word listed).

A word's score is its log-odds ratio against the baseline with an informative Dirichlet
prior (Monroe, Colaresi and Quinn, "Fightin' Words", 2008), as a z-score: the owner's rate
is pulled toward the baseline by `PRIOR` pseudo-words, and the log-odds difference is
divided by its standard error, so a word used 3 times does not outrank one used 300 times
on a lucky ratio. Only words the owner uses at least `MIN_RATIO` times as often as English,
in at least `min_documents` documents, count: a signature is a habit, not one post's topic;
and never one of English's `COMMON` most frequent words (function words say little).

Phrases are 2–3-word runs inside a sentence that recur in as many documents, that neither
start nor end with one of English's `EDGE` most frequent words ("of the", "in a" are
English, not the owner), scored the same way against the chance of their words falling
together (the product of their baseline rates).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources

PRIOR = 10_000.0  # pseudo-words of general English mixed into the owner's rates
MIN_RATIO = 3.0  # at least this many times English's rate
COMMON = 100  # English's most frequent words ("the", "this", "have"…): never a signature word
EDGE = 50  # no phrase starts or ends with one of English's this many most frequent words
_LIMIT = 10


@dataclass(frozen=True, slots=True)
class Signature:
    """A word or phrase the owner uses far more than English does."""

    text: str
    documents: int  # in how many of the owner's documents
    uses: int  # how many times in all
    score: float  # the log-odds z-score against the baseline


@dataclass(frozen=True)
class Baseline:
    rates: dict[str, float]  # word -> probability
    common: frozenset[str]
    edge: frozenset[str]
    floor: float

    def rate(self, word: str) -> float:
        return self.rates.get(word, self.floor)


@cache
def baseline() -> Baseline:
    """The general-English word rates, read once."""
    text = resources.files("model").joinpath("data/english_words.tsv").read_text("utf-8")
    rates: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            word, per_billion = line.split("\t")
            rates[word] = int(per_billion) / 1e9
    ranked = list(rates)  # the file is most frequent first
    return Baseline(
        rates, frozenset(ranked[:COMMON]), frozenset(ranked[:EDGE]), min(rates.values()) / 2
    )


def signature_words(
    documents: Sequence[Sequence[Sequence[str]]], min_documents: int, limit: int = _LIMIT
) -> list[Signature]:
    """The owner's most distinctive words. `documents`: per document, its sentences as
    lower-cased words."""
    base = baseline()
    uses: Counter[str] = Counter()
    spread: Counter[str] = Counter()
    for document in documents:
        seen = [w for sentence in document for w in sentence if _wordlike(w)]
        uses.update(seen)
        spread.update(set(seen))
    total = sum(uses.values())
    found = [
        Signature(word, spread[word], count, _z(count, total, base.rate(word)))
        for word, count in uses.items()
        if spread[word] >= min_documents
        and word not in base.common
        and _ratio(count, total, base.rate(word)) >= MIN_RATIO
    ]
    return sorted(found, key=lambda s: (-s.score, s.text))[:limit]


def signature_phrases(
    documents: Sequence[Sequence[Sequence[str]]], min_documents: int, limit: int = _LIMIT
) -> list[Signature]:
    """The owner's most distinctive 2–3-word phrases; of phrases inside one another only
    one is named (the longer when it recurs as widely)."""
    base = baseline()
    uses: Counter[tuple[str, ...]] = Counter()
    spread: Counter[tuple[str, ...]] = Counter()
    positions = 0
    for document in documents:
        kept: list[tuple[str, ...]] = []
        for sentence in document:
            positions += len(sentence)
            kept += _grams(sentence, base.edge)
        uses.update(kept)
        spread.update(set(kept))
    found: list[Signature] = []
    for gram, count in uses.items():
        if spread[gram] < min_documents:
            continue
        chance = math.prod(base.rate(w) for w in gram)
        if _ratio(count, positions, chance) >= MIN_RATIO:
            found.append(
                Signature(" ".join(gram), spread[gram], count, _z(count, positions, chance))
            )
    found.sort(key=lambda s: (-s.score, s.text))
    chosen: list[Signature] = []
    for phrase in found:  # one of overlapping phrases: the longer when it recurs as widely
        overlap = [
            c for c in chosen if _within(c.text, phrase.text) or _within(phrase.text, c.text)
        ]
        if not overlap:
            chosen.append(phrase)
        elif all(_within(c.text, phrase.text) and c.documents <= phrase.documents for c in overlap):
            chosen = [
                phrase if c is overlap[0] else c
                for c in chosen
                if c is overlap[0] or c not in overlap
            ]
    return chosen[:limit]


def _grams(sentence: Sequence[str], edge_words: frozenset[str]) -> list[tuple[str, ...]]:
    """The 2- and 3-word runs of `sentence` made of words worth naming that neither start
    nor end with a common word."""
    usable = [_wordlike(w) for w in sentence]
    edge = [ok and w not in edge_words for ok, w in zip(usable, sentence, strict=True)]
    grams: list[tuple[str, ...]] = []
    for i in range(len(sentence) - 1):
        if not edge[i]:
            continue
        if edge[i + 1]:
            grams.append((sentence[i], sentence[i + 1]))
        if i + 2 < len(sentence) and usable[i + 1] and edge[i + 2]:
            grams.append((sentence[i], sentence[i + 1], sentence[i + 2]))
    return grams


def _within(part: str, whole: str) -> bool:
    return f" {part} " in f" {whole} "


def _wordlike(word: str) -> bool:
    """A word worth naming: letters only (no numbers, no contractions), two or more."""
    return len(word) >= 2 and word.isalpha()


def _ratio(count: int, total: int, rate: float) -> float:
    return (count / total) / rate if total else 0.0


def _z(count: int, total: int, rate: float) -> float:
    """The log-odds ratio of the owner's rate (with `PRIOR` pseudo-words of English)
    against English's, over its standard error."""
    alpha = PRIOR * rate
    owner = (count + alpha) / (total + PRIOR)
    delta = math.log(owner / (1 - owner)) - math.log(rate / (1 - rate))
    return delta / math.sqrt(1 / (count + alpha))
