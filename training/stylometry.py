"""How close text is to the owner's voice: surface features, and embedding similarity.

The features are pure Python (no model, no tokenizer). Four numbers describe a body of
text: mean sentence length in words, emoji and hashtags per 100 words, and vocabulary
overlap (the share of a text's lower-cased word types that the owner has used).
`distance` folds the four into one number, 0 for identical.

Words, sentences, emoji and hashtags are counted by `model/text_features.py` (the one
definition, shared with the style profile).

Style similarity works on vectors an embedder made: the mean cosine between each draft
and the centroid (normalised mean) of the owner's texts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from model.text_features import emoji, hashtags, sentences, vocabulary, words

__all__ = [
    "FEATURES",
    "Stylometry",
    "centroid",
    "distance",
    "emoji",
    "hashtags",
    "measure",
    "sentences",
    "similarity",
    "vocabulary",
    "words",
]

FEATURES = ("sentence_length", "emoji_rate", "hashtag_rate", "vocabulary_overlap")


@dataclass(frozen=True)
class Stylometry:
    sentence_length: float  # mean words per sentence
    emoji_rate: float  # emoji per 100 words
    hashtag_rate: float  # hashtags per 100 words
    vocabulary_overlap: float  # mean share of a text's word types in the owner's vocabulary

    def to_json(self) -> dict[str, float]:
        return asdict(self)


def measure(texts: Sequence[str], owner_vocabulary: frozenset[str]) -> Stylometry:
    """The features of `texts` taken together: rates pool every text's words, so a long
    text weighs more than a short one; the overlap is the mean over texts with words."""
    total_words = sum(len(words(t)) for t in texts)
    total_sentences = sum(len(sentences(t)) for t in texts)
    overlaps = [_overlap(t, owner_vocabulary) for t in texts if words(t)]
    per_100 = 100 / total_words if total_words else 0.0
    return Stylometry(
        sentence_length=total_words / total_sentences if total_sentences else 0.0,
        emoji_rate=sum(len(emoji(t)) for t in texts) * per_100,
        hashtag_rate=sum(len(hashtags(t)) for t in texts) * per_100,
        vocabulary_overlap=sum(overlaps) / len(overlaps) if overlaps else 0.0,
    )


def distance(drafts: Stylometry, owner: Stylometry) -> float:
    """Mean relative difference over the features: |d - o| / max(|d|, |o|), 0 when both
    are 0. Dividing by the larger value keeps each term in 0..1, so an owner who never
    uses emoji does not make one emoji weigh infinitely."""
    terms = []
    for name in FEATURES:
        d, o = getattr(drafts, name), getattr(owner, name)
        scale = max(abs(d), abs(o))
        terms.append(abs(d - o) / scale if scale else 0.0)
    return sum(terms) / len(terms)


def centroid(vectors: Any) -> Any:
    """The unit-length mean direction of `vectors` (one row per text)."""
    mean = np.mean(_unit_rows(vectors), axis=0)
    norm = float(np.linalg.norm(mean))
    return mean / norm if norm else mean


def similarity(vectors: Any, owner_centroid: Any) -> float:
    """The mean cosine between each row of `vectors` and the owner's centroid."""
    return float(np.mean(_unit_rows(vectors) @ owner_centroid))


def _unit_rows(vectors: Any) -> Any:
    array = np.asarray(vectors, dtype=np.float64)
    norms = np.linalg.norm(array, axis=1, keepdims=True)
    return array / np.where(norms == 0, 1.0, norms)


def _overlap(text: str, owner_vocabulary: frozenset[str]) -> float:
    types = {w.casefold() for w in words(text)}
    return len(types & owner_vocabulary) / len(types)
