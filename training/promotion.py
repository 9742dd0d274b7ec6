"""The promotion gate: a new model replaces the active one only when it is better by more
than the noise, and not worse in voice.

Rules, in order:
1. The metric. `training.promote_metric` "auto" is "voice" when the dataset holds at
   least `VOICE_MIN_DOCUMENTS` of the owner's documents, else "perplexity". "voice" falls
   back to perplexity when the authorship check is not usable ("not enough writing to
   judge voice"); "voice" and "style" fall back when fewer than `MIN_NOISE_ITEMS` drafts
   were written (too few to tell a difference from noise). Each fallback is noted.
2. The win. Perplexity must improve by more than `training.promote_margin` (relative) and,
   with at least `MIN_NOISE_ITEMS` held-out examples, the bootstrap interval of the
   improvement (over per-example NLL, paired) must lie above zero. Voice share and style
   similarity must rise with the paired bootstrap interval of the difference above zero.
3. No loss of voice. Each other voice measure (stylometry distance, style similarity,
   voice share where the check is usable) must not be worse beyond its noise: a paired
   interval entirely on the worse side blocks promotion. With fewer than
   `MIN_NOISE_ITEMS` drafts a measure is not judged (and says so).
Paired: both models answered the same instructions, so one resample of instructions
serves both (training/bootstrap.py). The intervals are seeded: the same report gives the
same decision.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import numpy as np

from training import bootstrap, stylometry
from training.attribution import NOT_ENOUGH


class Scores(Protocol):
    """What the gate reads of an evaluation report (training/eval_report.py)."""

    models: list[str]
    metrics: dict[str, dict[str, float]]  # model -> metric -> value
    owner: dict[str, float]  # the owner's held-out stylometry
    owner_documents: int
    items: dict[str, dict[str, list[float]]]  # model -> series -> per-item values
    voice: dict[str, Any]  # the authorship check


VOICE_MIN_DOCUMENTS = 20
MIN_NOISE_ITEMS = 4
COUNTS = ("words", "sentences", "emoji", "hashtags", "overlap")  # per draft, for stylometry


@dataclass(frozen=True)
class Measure:
    name: str  # the promote_metric name, or the guard's
    label: str
    sign: int  # +1: higher is better
    number: str
    needs: str  # the per-item series it is computed from


PERPLEXITY = Measure("perplexity", "perplexity", -1, "{:.2f}", "nll")
VOICE = Measure("voice", "voice share", 1, "{:.2f}", "owner_probability")
STYLE = Measure("style", "style similarity", 1, "{:.3f}", "style_similarity")
STYLOMETRY = Measure("stylometry", "stylometry distance", -1, "{:.3f}", "words")
MEASURES = {m.name: m for m in (PERPLEXITY, VOICE, STYLE, STYLOMETRY)}
GUARDS = (STYLOMETRY, STYLE, VOICE)


@dataclass(frozen=True)
class Check:
    measure: str
    role: str  # "primary" or "guard"
    verdict: str  # "better", "worse", "within noise", "not judged"
    text: str  # for people


@dataclass(frozen=True)
class Decision:
    candidate: str
    incumbent: str
    configured: str  # training.promote_metric as set
    metric: str  # the one that decided
    promote: bool
    why: str
    checks: list[Check] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def line(self) -> str:
        return f"{'promoted' if self.promote else 'not promoted'}: {self.why}"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Decision:
        checks = [Check(**c) for c in data.get("checks", [])]
        return cls(**{**data, "checks": checks})


def decide(
    report: Scores,
    candidate: str,
    incumbent: str,
    configured: str,
    margin: float,
    seed: int = 0,
) -> Decision:
    """Whether `candidate` replaces `incumbent`, and which rule said so."""
    for name in (candidate, incumbent):
        if name not in report.metrics:
            raise ValueError(f"no model {name!r} in this report; it has {report.models}")
    notes: list[str] = []
    metric = _metric(report, configured, (candidate, incumbent), notes)
    pair = _Pair(report, candidate, incumbent, seed)
    primary = _primary(pair, MEASURES[metric], margin)
    guards = [_guard(pair, m) for m in GUARDS if m.name != metric and pair.has(m)]
    worse = [g for g in guards if g.verdict == "worse"]
    promote = primary.verdict == "better" and not worse
    if primary.verdict != "better":
        why = primary.text
    elif worse:
        why = f"{primary.text} but " + " and ".join(g.text for g in worse)
    else:
        kept = [g.measure for g in guards if g.verdict != "not judged"]
        why = primary.text + (f"; {', '.join(kept)} not worse" if kept else "")
    return Decision(
        candidate,
        incumbent,
        configured,
        metric,
        promote,
        f"{candidate} over {incumbent}: {why}",
        [primary, *guards],
        notes,
    )


def draft_counts(texts: Sequence[str], owner_vocabulary: frozenset[str]) -> dict[str, list[float]]:
    """Per draft, what `stylometry.measure` pools: words, sentences, emoji, hashtags, and
    the share of its word types the owner used (0 for a draft without words)."""
    counts: dict[str, list[float]] = {name: [] for name in COUNTS}
    for text in texts:
        found = stylometry.words(text)
        types = {w.casefold() for w in found}
        counts["words"].append(float(len(found)))
        counts["sentences"].append(float(len(stylometry.sentences(text))))
        counts["emoji"].append(float(len(stylometry.emoji(text))))
        counts["hashtags"].append(float(len(stylometry.hashtags(text))))
        counts["overlap"].append(len(types & owner_vocabulary) / len(types) if types else 0.0)
    return counts


def stylometry_distance(
    counts: dict[str, list[float]], owner: dict[str, float]
) -> bootstrap.Statistic:
    """`stylometry.distance(measure(drafts), owner)` of each resample of the drafts."""
    c = {name: np.asarray(counts[name], dtype=np.float64) for name in COUNTS}
    spoken = (c["words"] > 0).astype(np.float64)

    def statistic(rows: np.ndarray) -> np.ndarray:
        words, sentences = c["words"][rows].sum(1), c["sentences"][rows].sum(1)
        per_100 = np.where(words > 0, 100 / np.maximum(words, 1), 0.0)
        with_words = spoken[rows].sum(1)
        features = {
            "sentence_length": np.where(sentences > 0, words / np.maximum(sentences, 1), 0.0),
            "emoji_rate": c["emoji"][rows].sum(1) * per_100,
            "hashtag_rate": c["hashtags"][rows].sum(1) * per_100,
            "vocabulary_overlap": np.where(
                with_words > 0,
                (c["overlap"] * spoken)[rows].sum(1) / np.maximum(with_words, 1),
                0.0,
            ),
        }
        terms = []
        for name in stylometry.FEATURES:
            d, o = features[name], float(owner.get(name, 0.0))
            scale = np.maximum(np.abs(d), abs(o))
            terms.append(np.where(scale > 0, np.abs(d - o) / np.where(scale > 0, scale, 1), 0.0))
        return np.asarray(np.mean(terms, axis=0))

    return statistic


class _Pair:
    """Two models' per-item series, and their statistics over index rows."""

    def __init__(self, report: Scores, candidate: str, incumbent: str, seed: int) -> None:
        self.report, self.names, self.seed = report, (candidate, incumbent), seed
        self.series = [report.items.get(model, {}) for model in self.names]

    def has(self, measure: Measure) -> bool:
        if measure is VOICE and not self.report.voice.get("usable"):
            return False
        return all(measure.needs in s and s[measure.needs] for s in self.series)

    def items(self, measure: Measure) -> int:
        return min(len(s[measure.needs]) for s in self.series)

    def statistic(self, measure: Measure, model: int) -> bootstrap.Statistic:
        series = self.series[model]
        if measure is PERPLEXITY:
            nll, tokens = np.asarray(series["nll"]), np.asarray(series["tokens"])
            return lambda rows: np.exp(nll[rows].sum(1) / np.maximum(tokens[rows].sum(1), 1))
        if measure is VOICE:
            return bootstrap.mean_of([float(p > 0.5) for p in series["owner_probability"]])
        if measure is STYLE:
            return bootstrap.mean_of(series["style_similarity"])
        return stylometry_distance(series, self.report.owner)

    def difference(self, measure: Measure) -> bootstrap.Interval:
        """candidate - incumbent, paired over the shared items."""
        first, second = self.statistic(measure, 0), self.statistic(measure, 1)
        return bootstrap.paired(first, second, self.items(measure), self.seed)

    def values(self, measure: Measure) -> tuple[float, float]:
        every = np.arange(self.items(measure))[None, :]
        first, second = (float(self.statistic(measure, m)(every)[0]) for m in (0, 1))
        return first, second

    def shown(self, measure: Measure) -> str:
        """ "0.62 [0.51, 0.71] vs 0.31 [0.22, 0.40]" (the per-model intervals)."""
        cells = []
        for model in range(2):
            one = bootstrap.interval(self.statistic(measure, model), self.items(measure), self.seed)
            cells.append(one.text(measure.number))
        return " vs ".join(cells)


def _metric(report: Scores, configured: str, names: tuple[str, str], notes: list[str]) -> str:
    metric = configured
    if configured == "auto":
        documents = report.owner_documents
        metric = "voice" if documents >= VOICE_MIN_DOCUMENTS else "perplexity"
        notes.append(
            f"promote_metric auto: {metric} ({documents} of your documents; voice needs "
            f"{VOICE_MIN_DOCUMENTS})"
        )
    if metric not in MEASURES or metric == "stylometry":
        raise ValueError(f"unknown metric {configured!r}; use auto, perplexity, style or voice")
    pair = _Pair(report, *names, 0)
    if metric == "voice" and not pair.has(VOICE):
        reason = report.voice.get("reason") or "the voice check did not run"
        notes.append(f"{NOT_ENOUGH} ({reason}): the gate falls back to perplexity")
        metric = "perplexity"
    measure = MEASURES[metric]
    if metric != "perplexity" and (not pair.has(measure) or pair.items(measure) < MIN_NOISE_ITEMS):
        drafts = pair.items(measure) if pair.has(measure) else 0
        notes.append(
            f"{drafts} drafts are too few to tell {measure.label} from noise (it needs "
            f"{MIN_NOISE_ITEMS}; training.eval_drafts): the gate falls back to perplexity"
        )
        metric = "perplexity"
    return metric


def _primary(pair: _Pair, measure: Measure, margin: float) -> Check:
    if measure is PERPLEXITY:
        return _perplexity(pair, margin)
    difference = pair.difference(measure)
    change = f"{measure.label} {pair.shown(measure)} (difference {_signed(difference, measure)})"
    if difference.excludes(0) and measure.sign * difference.value > 0:
        return Check(measure.label, "primary", "better", change)
    if difference.excludes(0):
        return Check(measure.label, "primary", "worse", f"{change}: worse")
    return Check(measure.label, "primary", "within noise", f"{change}: within its noise")


def _perplexity(pair: _Pair, margin: float) -> Check:
    name = "perplexity"
    if not pair.has(PERPLEXITY):  # a report without per-example NLL: the margin alone
        ppl = [pair.report.metrics[m]["perplexity"] for m in pair.names]
        noise: bootstrap.Interval | None = None
        gain = 1 - ppl[0] / ppl[1] if ppl[1] else 0.0
    else:
        ppl = list(pair.values(PERPLEXITY))
        first, second = (pair.statistic(PERPLEXITY, m) for m in (0, 1))
        items = pair.items(PERPLEXITY)
        noise = bootstrap.interval(lambda rows: 1 - first(rows) / second(rows), items, pair.seed)
        noise = noise if items >= MIN_NOISE_ITEMS else None
        gain = 1 - ppl[0] / ppl[1]
    values = f"{ppl[0]:.2f} vs {ppl[1]:.2f}"
    if not gain > 0:  # also NaN, from two infinite perplexities
        return Check(name, "primary", "worse", f"perplexity did not improve ({values})")
    said = f"perplexity improved {gain:.1%} ({values}"
    said += f", interval of the improvement [{noise.low:.1%}, {noise.high:.1%}])" if noise else ")"
    if not gain > margin:
        return Check(name, "primary", "within noise", f"{said}, not more than "
                     f"training.promote_margin ({margin:.1%})")  # fmt: skip
    if noise is not None and noise.low <= 0:
        return Check(name, "primary", "within noise", f"{said}, within its noise")
    return Check(name, "primary", "better", said)


def _guard(pair: _Pair, measure: Measure) -> Check:
    items = pair.items(measure)
    if items < MIN_NOISE_ITEMS:
        return Check(
            measure.label,
            "guard",
            "not judged",
            f"{measure.label} not judged: {items} drafts (noise needs {MIN_NOISE_ITEMS})",
        )
    difference = pair.difference(measure)
    values = " vs ".join(measure.number.format(v) for v in pair.values(measure))
    detail = f"({values}, difference {_signed(difference, measure)})"
    if difference.excludes(0) and measure.sign * difference.value < 0:
        return Check(
            measure.label, "guard", "worse", f"{measure.label} got worse by more than its "
            f"noise {detail}"
        )  # fmt: skip
    verdict = "better" if difference.excludes(0) else "within noise"
    return Check(measure.label, "guard", verdict, f"{measure.label} not worse {detail}")


def _signed(interval: bootstrap.Interval, measure: Measure) -> str:
    number = measure.number.replace("{:", "{:+")
    low, high = number.format(interval.low), number.format(interval.high)
    return f"{number.format(interval.value)} [{low}, {high}]"
