"""The evaluation report: numbers per model, the owner's stylometry, samples side by side.

`training.evaluate` fills it; the registry saves it next to a run (eval.json for the
numbers, eval.md for people). `beats` compares two models' numbers as they are; promotion
asks `gate` (training/promotion.py), which weighs them against their noise, using the
per-item values kept in `items`, and records its decision in `promotion`. A metric is
absent for a model when no draft was written (only perplexity needs none); the voice
share is absent when the authorship check (`voice`, training/attribution.py) found too
little writing to judge voice.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from training import stylometry
from training.attribution import NOT_ENOUGH, VoiceCheck
from training.promotion import Decision, decide

METRICS = (
    "perplexity",
    "style_similarity",
    "voice_share",
    *stylometry.FEATURES,
    "stylometry_distance",
)
PROMOTE_METRICS = {
    "perplexity": ("perplexity", -1),
    "style": ("style_similarity", 1),
    "voice": ("voice_share", 1),
}
_ROWS = {  # metric: (row label, number format)
    "perplexity": ("perplexity (lower is better)", "{:.2f}"),
    "style_similarity": ("style similarity (higher is better)", "{:.3f}"),
    "voice_share": ("voice: share attributed to you (higher is better)", "{:.2f}"),
    "sentence_length": ("words per sentence", "{:.1f}"),
    "emoji_rate": ("emoji per 100 words", "{:.2f}"),
    "hashtag_rate": ("hashtags per 100 words", "{:.2f}"),
    "vocabulary_overlap": ("vocabulary overlap", "{:.3f}"),
    "stylometry_distance": ("stylometry distance (0 = owner)", "{:.3f}"),
}


@dataclass(frozen=True)
class Sample:
    instruction: str
    answer: str  # the owner's real answer, shortened
    drafts: dict[str, str]  # model name -> its draft


@dataclass
class EvalReport:
    models: list[str]
    metrics: dict[str, dict[str, float]]  # model -> metric -> value
    owner: dict[str, float]  # the owner's held-out stylometry
    samples: list[Sample]
    dataset: str = ""
    test_examples: int = 0
    centroid: str = "test"  # which answers the style centroid came from
    settings: dict[str, Any] = field(default_factory=dict)
    owner_documents: int = 0  # the owner's documents in the dataset (train and test)
    # model -> series -> one value per held-out example ("nll", "tokens") or per draft
    # ("style_similarity", "owner_probability", the stylometry counts): the noise's source
    items: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    voice: dict[str, Any] = field(default_factory=dict)  # the authorship check (VoiceCheck)
    promotion: dict[str, Any] = field(default_factory=dict)  # the gate's Decision, once made

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> EvalReport:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["samples"] = [Sample(**s) for s in data.get("samples", [])]
        return cls(**values)

    @classmethod
    def load(cls, folder: Path) -> EvalReport:
        return cls.from_json(json.loads((folder / "eval.json").read_text(encoding="utf-8")))

    def table(self) -> str:
        """Markdown: one row per metric, one column per model, then the owner's."""
        head = ["metric", *(m.replace("|", "\\|") for m in self.models), "owner"]
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for metric in METRICS:
            label, number = _ROWS[metric]
            columns = [*(self.metrics[m] for m in self.models), self.owner]
            if metric == "voice_share" and not any(metric in c for c in columns):
                continue
            cells = [label, *(_cell(c, metric, number) for c in columns)]
            lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines)

    def save(self, folder: Path) -> None:
        """Write eval.json (the numbers) and eval.md (the table and the samples)."""
        folder.mkdir(parents=True, exist_ok=True)
        text = json.dumps(self.to_json(), indent=2, ensure_ascii=False) + "\n"
        (folder / "eval.json").write_text(text, encoding="utf-8")
        (folder / "eval.md").write_text(self.markdown(), encoding="utf-8")

    def markdown(self) -> str:
        parts = [
            "# Evaluation",
            f"{self.test_examples} held-out examples from `{self.dataset}`; the style "
            f"centroid is built from the {self.centroid} answers.",
            self.table(),
            *self._voice_parts(),
            *self._promotion_parts(),
            "## Samples",
        ]
        for number, sample in enumerate(self.samples, 1):
            parts.append(f"### {number}. {sample.instruction}")
            parts.append(f"**owner**\n\n{_quote(sample.answer)}")
            parts.extend(f"**{name}**\n\n{_quote(text)}" for name, text in sample.drafts.items())
        return "\n\n".join(parts) + "\n"

    def beats(self, candidate: str, incumbent: str, metric: str) -> bool:
        """Whether `candidate` is strictly better than `incumbent` on `metric`, noise
        ignored ("perplexity": lower wins; "style": higher style similarity wins; "voice":
        a higher share of drafts attributed to the owner wins). Promotion asks `gate`."""
        if metric not in PROMOTE_METRICS:
            raise ValueError(f"unknown metric {metric!r}; use one of {', '.join(PROMOTE_METRICS)}")
        key, sign = PROMOTE_METRICS[metric]
        values = []
        for name in (candidate, incumbent):
            if name not in self.metrics:
                raise ValueError(f"no model {name!r} in this report; it has {self.models}")
            if key == "voice_share" and key not in self.metrics[name]:
                raise ValueError(f"the report has no voice share for {name!r}: {NOT_ENOUGH}")
            if key not in self.metrics[name]:
                raise ValueError(
                    f"the report has no {key} for {name!r} (no drafts were written); "
                    "set training.eval_drafts above 0 or promote on perplexity"
                )
            values.append(self.metrics[name][key])
        return sign * values[0] > sign * values[1]

    def gate(
        self, candidate: str, incumbent: str, metric: str, margin: float, seed: int = 0
    ) -> Decision:
        """The promotion gate's decision (training/promotion.py): `candidate` beats
        `incumbent` on `metric` ("auto", "perplexity", "style", "voice") by more than the
        noise, or by more than `margin` for perplexity, and is not worse in voice."""
        return decide(self, candidate, incumbent, metric, margin, seed)

    def _voice_parts(self) -> list[str]:
        if not self.voice:
            return []
        check = VoiceCheck.from_json(self.voice)
        parts = ["## Voice", check.line()]
        if check.usable:
            parts.append(
                "The voice row is the share of each model's drafts (and, under owner, of "
                "your held-out writing) that the check attributes to you, with its 95 % "
                "bootstrap interval."
            )
        return parts

    def _promotion_parts(self) -> list[str]:
        if not self.promotion:
            return []
        decision = Decision.from_json(self.promotion)
        details = [f"- {c.role}: {c.text}" for c in decision.checks]
        details += [f"- note: {n}" for n in decision.notes]
        return ["## Promotion", decision.line(), "\n".join(details)]


def _cell(values: dict[str, float], metric: str, number: str) -> str:
    value = values.get(metric)
    if value is None:
        return "–"
    low, high = values.get(f"{metric}_low"), values.get(f"{metric}_high")
    if low is None or high is None:
        return number.format(value)
    return f"{number.format(value)} [{number.format(low)}, {number.format(high)}]"


def _quote(text: str) -> str:
    return "\n".join(
        f"> {line}" if line.strip() else ">" for line in (text or "(empty)").splitlines()
    )
