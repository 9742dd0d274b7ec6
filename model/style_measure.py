"""One document's style measurements, the parts a style profile pools (`model/style.py`).

Everything is measured on the document's prose (`model/text_features.prose`: no code,
URLs, Markdown headings or tables); links are counted in the whole text, outside code.

- Opening: the first paragraph. A *one-line hook* is a first paragraph of one sentence of
  at most `HOOK_WORDS` words with more paragraphs after it; a *question* opening is a first
  sentence that ends with "?"; an *"I"* opening is a first word I, I'm, I've, I'd or I'll.
- Closing: the last sentence (hashtag-only lines at the end are skipped): a question close
  ends with "?". The *last line* (at most `SIGN_OFF_WORDS` words) is a sign-off candidate;
  a profile calls it a sign-off only when it recurs across documents.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from model.text_features import (
    FIRST_PERSON,
    emoji,
    hashtags,
    links,
    paragraphs,
    prose,
    sentences,
    words,
)

HOOK_WORDS = 15
SIGN_OFF_WORDS = 8
_I_OPENINGS = frozenset({"i", "i'm", "i've", "i'd", "i'll", "i’m", "i’ve", "i’d", "i’ll"})
_HASHTAG_LINE = re.compile(r"^(?:\s*#\w+[\s,.]*)+$")


@dataclass(frozen=True)
class Measured:
    """What one document contributes to a profile."""

    words: int
    sentence_words: tuple[int, ...]
    paragraph_words: tuple[int, ...]
    opens_hook: bool
    opens_question: bool
    opens_i: bool
    closes_question: bool
    last_line: str  # "" when the last line is too long to be a sign-off
    emoji: tuple[str, ...]
    hashtags: tuple[str, ...]
    links: int
    first_person: int
    tokens: tuple[tuple[str, ...], ...]  # per sentence, lower-cased words

    @property
    def empty(self) -> bool:
        return self.words == 0


def measure(text: str) -> Measured:
    body = prose(text)
    paras = paragraphs(_without_trailing_hashtags(body))
    all_sentences = [sentences(p) for p in paras]
    flat = [s for group in all_sentences for s in group]
    tokens = tuple(tuple(w.casefold() for w in words(s)) for s in flat)
    counted = [w for sentence in tokens for w in sentence]
    first = flat[0] if flat else ""
    first_word = tokens[0][0] if tokens and tokens[0] else ""
    return Measured(
        words=len(counted),
        sentence_words=tuple(len(t) for t in tokens if t),
        paragraph_words=tuple(len(words(p)) for p in paras),
        opens_hook=bool(paras)
        and len(paras) > 1
        and len(all_sentences[0]) == 1
        and len(words(paras[0])) <= HOOK_WORDS,
        opens_question=first.rstrip().endswith("?"),
        opens_i=first_word in _I_OPENINGS,
        closes_question=bool(flat) and flat[-1].rstrip().endswith("?"),
        last_line=_last_line(paras),
        emoji=tuple(emoji(body)),
        hashtags=tuple(h.casefold() for h in hashtags(body)),
        links=len(links(text)),
        first_person=sum(1 for w in counted if w in FIRST_PERSON),
        tokens=tokens,
    )


def _without_trailing_hashtags(text: str) -> str:
    lines = text.rstrip().splitlines()
    while lines and (not lines[-1].strip() or _HASHTAG_LINE.match(lines[-1])):
        lines.pop()
    return "\n".join(lines)


def _last_line(paras: list[str]) -> str:
    if not paras:
        return ""
    line = paras[-1].splitlines()[-1].strip()
    return line if 0 < len(words(line)) <= SIGN_OFF_WORDS and len(paras) > 1 else ""
