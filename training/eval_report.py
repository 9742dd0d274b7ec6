"""The evaluation report: numbers per model, the owner's stylometry, samples side by side.

`training.evaluate` fills it; the registry saves it next to a run (eval.json for the
numbers, eval.md for people) and promotion asks `beats`. A metric is absent for a model
when no draft was written (only perplexity needs none).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from training import stylometry

METRICS = ("perplexity", "style_similarity", *stylometry.FEATURES, "stylometry_distance")
PROMOTE_METRICS = {"perplexity": ("perplexity", -1), "style": ("style_similarity", 1)}
_ROWS = {  # metric: (row label, number format)
    "perplexity": ("perplexity (lower is better)", "{:.2f}"),
    "style_similarity": ("style similarity (higher is better)", "{:.3f}"),
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
            values = [*(self.metrics[m].get(metric) for m in self.models), self.owner.get(metric)]
            cells = [label, *("–" if v is None else number.format(v) for v in values)]
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
            "## Samples",
        ]
        for number, sample in enumerate(self.samples, 1):
            parts.append(f"### {number}. {sample.instruction}")
            parts.append(f"**owner**\n\n{_quote(sample.answer)}")
            parts.extend(f"**{name}**\n\n{_quote(text)}" for name, text in sample.drafts.items())
        return "\n\n".join(parts) + "\n"

    def beats(self, candidate: str, incumbent: str, metric: str) -> bool:
        """Whether `candidate` is strictly better than `incumbent` on `metric`
        ("perplexity": lower wins; "style": higher style similarity wins)."""
        if metric not in PROMOTE_METRICS:
            raise ValueError(f"unknown metric {metric!r}; use one of {', '.join(PROMOTE_METRICS)}")
        key, sign = PROMOTE_METRICS[metric]
        values = []
        for name in (candidate, incumbent):
            if name not in self.metrics:
                raise ValueError(f"no model {name!r} in this report; it has {self.models}")
            if key not in self.metrics[name]:
                raise ValueError(
                    f"the report has no {key} for {name!r} (no drafts were written); "
                    "set training.eval_drafts above 0 or promote on perplexity"
                )
            values.append(self.metrics[name][key])
        return sign * values[0] > sign * values[1]


def _quote(text: str) -> str:
    return "\n".join(
        f"> {line}" if line.strip() else ">" for line in (text or "(empty)").splitlines()
    )
