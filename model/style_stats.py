"""The numbers of a style profile for one set of documents (one platform, or all).

`pool` turns measured documents (`model/style_measure.py`) into a `StyleStats`: spreads
(median, 10th and 90th percentile) of sentence, paragraph and post length in words; the
share of documents that open with a one-line hook, a question or "I", and that close with
a question; the last lines that recur (sign-offs); signature words and phrases
(`model/style_words.py`); emoji, hashtags and links per document (and the share of
documents with any); the first-person rate per 100 words.

A habit must recur to be named: a sign-off, a signature word or phrase needs
`min_recurrence(documents)` documents (at least 3, or 5 % of them; 2 for sign-offs).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

from model.style_measure import Measured
from model.style_words import Signature, signature_phrases, signature_words

_SHOWN = 5  # hashtags, emoji and sign-offs kept per profile


@dataclass(frozen=True, slots=True)
class Spread:
    """The middle and the usual range of a length: median, 10th and 90th percentile."""

    median: float = 0.0
    p10: float = 0.0
    p90: float = 0.0

    @classmethod
    def of(cls, values: Sequence[float]) -> Spread:
        if not values:
            return cls()
        ordered = sorted(values)
        return cls(_quantile(ordered, 0.5), _quantile(ordered, 0.1), _quantile(ordered, 0.9))


@dataclass(frozen=True, slots=True)
class Recurring:
    """A last line (a sign-off), hashtag or emoji, and in how many documents it is."""

    text: str
    documents: int


@dataclass(frozen=True)
class StyleStats:
    documents: int = 0
    words: int = 0
    sentence_words: Spread = Spread()
    paragraph_words: Spread = Spread()
    post_words: Spread = Spread()
    opens_hook: float = 0.0  # share of documents
    opens_question: float = 0.0
    opens_i: float = 0.0
    closes_question: float = 0.0
    sign_offs: tuple[Recurring, ...] = ()
    signature_words: tuple[Signature, ...] = ()
    signature_phrases: tuple[Signature, ...] = ()
    emoji_per_post: float = 0.0
    hashtags_per_post: float = 0.0
    links_per_post: float = 0.0
    posts_with_emoji: float = 0.0  # share of documents with any
    posts_with_hashtags: float = 0.0
    posts_with_links: float = 0.0
    top_emoji: tuple[Recurring, ...] = ()
    top_hashtags: tuple[Recurring, ...] = ()
    first_person_rate: float = 0.0  # I, me, my, mine, myself per 100 words

    def to_json(self) -> dict[str, Any]:
        rounded: dict[str, Any] = _rounded(asdict(self))
        return rounded

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StyleStats:
        kinds: dict[str, Any] = {
            "sentence_words": Spread,
            "paragraph_words": Spread,
            "post_words": Spread,
            "sign_offs": Recurring,
            "top_emoji": Recurring,
            "top_hashtags": Recurring,
            "signature_words": Signature,
            "signature_phrases": Signature,
        }
        values: dict[str, Any] = {}
        for field in fields(cls):
            value = data.get(field.name, getattr(cls(), field.name))
            kind = kinds.get(field.name)
            if kind is Spread:
                value = Spread(**value) if isinstance(value, dict) else value
            elif kind is not None:
                value = tuple(kind(**item) if isinstance(item, dict) else item for item in value)
            values[field.name] = value
        return cls(**values)


def min_recurrence(documents: int) -> int:
    """In how many documents a word or phrase must be to be a habit."""
    return max(3, math.ceil(0.05 * documents))


def pool(measured: Sequence[Measured]) -> StyleStats:
    docs = [m for m in measured if not m.empty]
    n = len(docs)
    if not n:
        return StyleStats()
    total_words = sum(m.words for m in docs)
    tokens = [m.tokens for m in docs]
    recurring = min_recurrence(n)
    return StyleStats(
        documents=n,
        words=total_words,
        sentence_words=Spread.of([w for m in docs for w in m.sentence_words]),
        paragraph_words=Spread.of([w for m in docs for w in m.paragraph_words]),
        post_words=Spread.of([m.words for m in docs]),
        opens_hook=_share(docs, lambda m: m.opens_hook),
        opens_question=_share(docs, lambda m: m.opens_question),
        opens_i=_share(docs, lambda m: m.opens_i),
        closes_question=_share(docs, lambda m: m.closes_question),
        sign_offs=_sign_offs(docs),
        signature_words=tuple(signature_words(tokens, recurring)),
        signature_phrases=tuple(signature_phrases(tokens, recurring)),
        emoji_per_post=sum(len(m.emoji) for m in docs) / n,
        hashtags_per_post=sum(len(m.hashtags) for m in docs) / n,
        links_per_post=sum(m.links for m in docs) / n,
        posts_with_emoji=_share(docs, lambda m: bool(m.emoji)),
        posts_with_hashtags=_share(docs, lambda m: bool(m.hashtags)),
        posts_with_links=_share(docs, lambda m: m.links > 0),
        top_emoji=_top([m.emoji for m in docs]),
        top_hashtags=_top([m.hashtags for m in docs]),
        first_person_rate=100 * sum(m.first_person for m in docs) / max(1, total_words),
    )


def _share(docs: Sequence[Measured], test: Any) -> float:
    return sum(1 for m in docs if test(m)) / len(docs)


def _sign_offs(docs: Sequence[Measured]) -> tuple[Recurring, ...]:
    """Last lines that recur in at least 2 documents and 15 % of them, in their most
    common spelling."""
    spellings: dict[str, Counter[str]] = {}
    for m in docs:
        if m.last_line:
            key = " ".join(m.last_line.casefold().rstrip(".!… ").split())
            spellings.setdefault(key, Counter())[m.last_line] += 1
    needed = max(2, math.ceil(0.15 * len(docs)))
    found = [
        Recurring(forms.most_common(1)[0][0], sum(forms.values()))
        for forms in spellings.values()
        if sum(forms.values()) >= needed
    ]
    return tuple(sorted(found, key=lambda r: (-r.documents, r.text))[:_SHOWN])


def _top(per_document: Sequence[Sequence[str]]) -> tuple[Recurring, ...]:
    spread: Counter[str] = Counter()
    for items in per_document:
        spread.update(set(items))
    return tuple(Recurring(text, count) for text, count in spread.most_common(_SHOWN))


def _rounded(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 3)
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_rounded(v) for v in value]
    return value


def _quantile(ordered: Sequence[float], q: float) -> float:
    """Linear interpolation between the closest ranks (numpy's default)."""
    position = q * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return float(ordered[low] + (ordered[high] - ordered[low]) * (position - low))
