"""The owner's style profile: how they write, measured from their own writing.

`StyleProfile.from_texts(texts, platform)` or `.from_documents(documents)` measures each
document once (`model/style_measure.py`) and pools them overall and per platform
(`model/style_stats.py`): sentence, paragraph and post length, openings and closings,
sign-offs, signature words and phrases against general English (`model/style_words.py`),
emoji, hashtag and link habits, first-person use. `render_guidance(platform)` says it in
a few short lines (`model/style_guidance.py`), the system prompt's "Your style" block and
what `llm-twin style` shows; `profile_distance` compares two profiles (drafts' against
the owner's, in the voice benchmark).

The profile of the owner's writing in the warehouse, cached until writing is added, is
`model/style_store.py`'s.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from model.style_guidance import MIN_DOCUMENTS, guidance, too_little
from model.style_measure import measure
from model.style_stats import StyleStats, pool

# The numeric features `profile_distance` compares: lengths and rates, then shares (0..1).
_SCALED = (
    "sentence_words",
    "paragraph_words",
    "post_words",
    "emoji_per_post",
    "hashtags_per_post",
    "links_per_post",
    "first_person_rate",
)
_SHARES = ("opens_hook", "opens_question", "opens_i", "closes_question")
DISTANCE_FEATURES = (*_SCALED, *_SHARES)


@dataclass(frozen=True, slots=True)
class StyleDocument:
    text: str
    platform: str = ""


@dataclass(frozen=True)
class StyleProfile:
    overall: StyleStats
    platforms: dict[str, StyleStats] = field(default_factory=dict)

    @classmethod
    def from_texts(cls, texts: Iterable[str], platform: str | None = None) -> StyleProfile:
        """The profile of `texts`, all of one `platform` (None: unnamed)."""
        return cls.from_documents(StyleDocument(t, platform or "") for t in texts)

    @classmethod
    def from_documents(cls, documents: Iterable[StyleDocument]) -> StyleProfile:
        by_platform: dict[str, list[Any]] = {}
        everything = []
        for document in documents:
            measured = measure(document.text)
            everything.append(measured)
            if document.platform:
                by_platform.setdefault(document.platform, []).append(measured)
        overall = pool(everything)
        return cls(
            overall,
            {  # one platform's writing is all of it: pooled once
                name: overall if len(group) == len(everything) else pool(group)
                for name, group in sorted(by_platform.items())
            },
        )

    @property
    def documents(self) -> int:
        return self.overall.documents

    def stats(self, platform: str | None = None) -> StyleStats:
        """One platform's numbers (empty when there is none of it), or the overall ones."""
        if platform is None:
            return self.overall
        return self.platforms.get(platform, StyleStats())

    def render_guidance(self, platform: str | None = None) -> list[str]:
        """A few short lines on `platform`'s habits (None: all writing). With too few
        documents of `platform`, the overall habits under a line that says so; with too
        few documents at all, only a line that says so."""
        return self.guidance_for([platform] if platform else [])

    def guidance_for(self, platforms: Sequence[str]) -> list[str]:
        """Like `render_guidance`, for the best-documented of several platforms (a draft
        format's: X's may be "x" or "twitter")."""
        if not self.enough():
            return [too_little(self.overall.documents)]
        basis, lines = self.prompt_guidance(platforms)
        if platforms and basis is None:
            label = "/".join(platforms)
            found = max(self.stats(p).documents for p in platforms)
            lines.insert(
                0,
                f"from all your writing: {found} of your documents are {label}, and a {label} "
                f"profile needs at least {MIN_DOCUMENTS}",
            )
        return lines

    def prompt_guidance(self, platforms: Sequence[str] = ()) -> tuple[str | None, list[str]]:
        """The platform whose habits describe `platforms` (the best-documented of them
        with enough documents; None: all the owner's writing), and its guidance lines;
        (None, []) when there is too little writing to say anything."""
        if platforms:
            name = min(platforms, key=lambda p: (-self.stats(p).documents, p))
            if self.stats(name).documents >= MIN_DOCUMENTS:
                return name, guidance(self.stats(name))
        return None, guidance(self.overall)

    def enough(self) -> bool:
        """Whether there is enough writing for any guidance."""
        return self.overall.documents >= MIN_DOCUMENTS

    def to_json(self) -> dict[str, Any]:
        return {
            "documents": self.documents,
            "min_documents": MIN_DOCUMENTS,
            "overall": self.overall.to_json(),
            "platforms": {name: stats.to_json() for name, stats in self.platforms.items()},
            "guidance": {
                "overall": self.render_guidance(),
                **{name: self.render_guidance(name) for name in self.platforms},
            },
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StyleProfile:
        return cls(
            StyleStats.from_json(data["overall"]),
            {name: StyleStats.from_json(s) for name, s in data.get("platforms", {}).items()},
        )


def profile_distance(a: StyleProfile | StyleStats, b: StyleProfile | StyleStats) -> float:
    """How far two styles are apart, 0 (the same) to 1, over `DISTANCE_FEATURES` of their
    overall numbers: the mean of one term per feature. Lengths (medians of sentence,
    paragraph and post words) and rates (emoji, hashtags, links per post, first person per
    100 words) count their relative difference |a - b| / max(a, b) (0 when both are 0), so
    a term stays in 0..1 whatever the unit; shares of documents (opening with a hook, a
    question, "I"; closing with a question) count their plain difference |a - b|."""
    x = a.overall if isinstance(a, StyleProfile) else a
    y = b.overall if isinstance(b, StyleProfile) else b
    terms = []
    for name in _SCALED:
        u, v = _value(x, name), _value(y, name)
        scale = max(abs(u), abs(v))
        terms.append(abs(u - v) / scale if scale else 0.0)
    terms += [abs(_value(x, name) - _value(y, name)) for name in _SHARES]
    return sum(terms) / len(terms)


def _value(stats: StyleStats, name: str) -> float:
    value = getattr(stats, name)
    return float(value.median if hasattr(value, "median") else value)
