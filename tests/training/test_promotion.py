"""The promotion gate: better by more than the noise, not worse in voice, and the report
says which rule decided. Reports are built by hand (the numbers a gate reads), the drafts
behind the stylometry are real text measured by training.stylometry."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from core.errors import ConfigError
from training import stylometry
from training.attribution import NOT_ENOUGH
from training.eval_report import EvalReport, Sample
from training.promotion import (
    MIN_NOISE_ITEMS,
    VOICE_MIN_DOCUMENTS,
    Decision,
    decide,
    draft_counts,
    stylometry_distance,
)
from training.settings import TrainingSettings

LIKE_OWNER = [
    f"I measured it twice. The numbers held up on run {n}, so I shipped it."
    + " Small steps win." * (n % 3)
    for n in range(20)
]
BROCHURE = [
    f"In today's fast-paced world, forward-looking teams must embrace transformative synergy "
    f"across every single part of the value chain to unlock growth number {n} "
    + "#AI #growth 🚀"
    * (1 + n % 2)
    for n in range(20)
]
VOCABULARY = stylometry.vocabulary(LIKE_OWNER)
OWNER_STYLE = stylometry.measure(LIKE_OWNER, VOCABULARY)


def series(ppl: float, drafts: list[str], owner_probability: list[float]) -> dict[str, list[float]]:
    """Per-item values for 20 held-out examples of 40 tokens around perplexity `ppl`."""
    jitter = [((i * 7) % 5 - 2) / 20 for i in range(20)]
    noise = [((i * 3) % 4 - 1.5) / 100 for i in range(20)]
    nll = [40 * math.log(ppl) * (1 + j) + e for j, e in zip(jitter, noise, strict=True)]
    similarity = [0.6 + ((i * 5) % 3 - 1) / 50 for i in range(len(drafts))]
    items = {"nll": nll, "tokens": [40.0] * 20, "style_similarity": similarity}
    items |= draft_counts(drafts, VOCABULARY)
    if owner_probability:
        items["owner_probability"] = owner_probability
    return items


def report(
    candidate: dict[str, list[float]],
    incumbent: dict[str, list[float]],
    *,
    owner_documents: int = 5,
    voice_usable: bool = True,
) -> EvalReport:
    metrics = {}
    for name, items in (("new", candidate), ("active", incumbent)):
        ppl = math.exp(sum(items["nll"]) / sum(items["tokens"]))
        metrics[name] = {"perplexity": ppl, "drafts": float(len(items["words"]))}
        if "owner_probability" in items:
            metrics[name]["voice_share"] = float(
                np.mean(np.array(items["owner_probability"]) > 0.5)
            )
    return EvalReport(
        models=["active", "new"],
        metrics=metrics,
        owner=OWNER_STYLE.to_json(),
        samples=[Sample("Write.", "Real.", {"active": "a", "new": "b"})],
        owner_documents=owner_documents,
        items={"new": candidate, "active": incumbent},
        voice={"usable": voice_usable, "reason": "" if voice_usable else "5 of your documents"},
    )


def shares(owner_drafts: int, drafts: int = 20) -> list[float]:
    return [0.9 if i < owner_drafts else 0.1 for i in range(drafts)]


def test_a_perplexity_win_that_costs_stylometry_is_not_promoted() -> None:
    scores = report(series(9.8, BROCHURE, []), series(10.0, LIKE_OWNER, []))
    decision = scores.gate("new", "active", "perplexity", margin=0.01)
    assert not decision.promote and decision.metric == "perplexity"
    assert re.fullmatch(
        r"not promoted: new over active: perplexity improved 2\.0% \(\S+ vs \S+, interval of the "
        r"improvement \[\S+%, \S+%\]\) but stylometry distance got worse by more than its noise "
        r"\(0\.\d{3} vs 0\.\d{3}, difference \+0\.\d{3} \[\+?0\.\d{3}, \+?0\.\d{3}\]\)",
        decision.line(),
    ), decision.line()
    verdicts = {c.measure: (c.role, c.verdict) for c in decision.checks}
    assert verdicts["perplexity"] == ("primary", "better")
    assert verdicts["stylometry distance"] == ("guard", "worse")
    assert verdicts["style similarity"] == ("guard", "within noise")
    # the old rule, noise ignored, would have promoted it
    assert scores.beats("new", "active", "perplexity")

    scores.promotion = decision.to_json()
    markdown = scores.markdown()
    assert "## Promotion\n\n" + decision.line() in markdown
    assert "- guard: stylometry distance got worse by more than its noise" in markdown
    assert EvalReport.from_json(scores.to_json()) == scores
    assert Decision.from_json(scores.promotion) == decision


def test_the_same_perplexity_win_in_the_owners_style_is_promoted() -> None:
    scores = report(series(9.8, LIKE_OWNER, []), series(10.0, LIKE_OWNER, []))
    decision = decide(scores, "new", "active", "perplexity", margin=0.01)
    assert decision.promote
    assert decision.line().startswith("promoted: new over active: perplexity improved 2.0% (")
    assert decision.line().endswith("; stylometry distance, style similarity not worse")
    # within the margin, or not better at all, is not enough
    within = decide(scores, "new", "active", "perplexity", margin=0.05)
    assert not within.promote
    assert within.why.endswith("not more than training.promote_margin (5.0%)")
    worse = decide(scores, "active", "new", "perplexity", margin=0.01)
    assert not worse.promote and "perplexity did not improve" in worse.why


def test_a_voice_win_beyond_its_interval_is_promoted() -> None:
    candidate = series(10.1, LIKE_OWNER, shares(16))  # perplexity a little worse: not a guard
    scores = report(candidate, series(10.0, LIKE_OWNER, shares(5)), owner_documents=25)
    decision = scores.gate("new", "active", "auto", margin=0.01)
    assert decision.promote and decision.metric == "voice" and decision.configured == "auto"
    assert re.fullmatch(
        r"promoted: new over active: voice share 0\.80 \[0\.\d\d, 0\.\d\d\] vs 0\.25 "
        r"\[0\.\d\d, 0\.\d\d\] \(difference \+0\.55 \[\+0\.\d\d, \+0\.\d\d\]\); "
        r"stylometry distance, style similarity not worse",
        decision.line(),
    ), decision.line()
    assert decision.notes == ["promote_metric auto: voice (25 of your documents; voice needs 20)"]
    assert scores.beats("new", "active", "voice")


def test_a_voice_difference_within_its_noise_does_not_promote() -> None:
    drafts = LIKE_OWNER[: MIN_NOISE_ITEMS + 1]
    candidate = series(9.0, drafts, shares(3, len(drafts)))
    scores = report(candidate, series(10.0, drafts, shares(2, len(drafts))))
    decision = decide(scores, "new", "active", "voice", margin=0.01)
    assert not decision.promote and decision.metric == "voice"
    assert decision.why.endswith("within its noise")  # a 9 % better perplexity is no matter


def test_auto_picks_voice_only_with_enough_of_the_owners_documents() -> None:
    candidate, incumbent = series(9.0, LIKE_OWNER, shares(10)), series(10.0, LIKE_OWNER, shares(10))
    for documents, metric in (
        (VOICE_MIN_DOCUMENTS, "voice"),
        (VOICE_MIN_DOCUMENTS - 1, "perplexity"),
    ):
        scores = report(candidate, incumbent, owner_documents=documents)
        decision = decide(scores, "new", "active", "auto", margin=0.01)
        assert decision.metric == metric
        assert decision.notes[0] == (
            f"promote_metric auto: {metric} ({documents} of your documents; voice needs 20)"
        )
    assert TrainingSettings().promote_metric == "auto"
    assert TrainingSettings().promote_margin == 0.01


def test_voice_without_enough_writing_falls_back_to_perplexity_and_says_so() -> None:
    scores = report(
        series(9.0, LIKE_OWNER, shares(20)),
        series(10.0, LIKE_OWNER, shares(0)),
        owner_documents=30,
        voice_usable=False,
    )
    decision = decide(scores, "new", "active", "voice", margin=0.01)
    assert decision.metric == "perplexity" and decision.promote
    assert decision.notes == [
        f"{NOT_ENOUGH} (5 of your documents): the gate falls back to perplexity"
    ]
    assert "voice share" not in {c.measure for c in decision.checks}  # never a guard either


def test_too_few_drafts_judge_nothing_but_perplexity() -> None:
    one = LIKE_OWNER[:1]
    scores = report(series(9.0, BROCHURE[:1], []), series(10.0, one, []))
    decision = decide(scores, "new", "active", "style", margin=0.01)
    assert decision.metric == "perplexity" and decision.promote
    assert "1 drafts are too few to tell style similarity from noise" in decision.notes[0]
    assert {c.verdict for c in decision.checks if c.role == "guard"} == {"not judged"}
    with pytest.raises(ValueError, match="no model 'nope'"):
        decide(scores, "nope", "active", "perplexity", margin=0.01)
    with pytest.raises(ValueError, match="use auto, perplexity, style or voice"):
        decide(scores, "new", "active", "bleu", margin=0.01)


def test_a_report_without_per_example_values_uses_the_margin_alone() -> None:
    scores = EvalReport(
        models=["a", "b"],
        metrics={"a": {"perplexity": 9.0}, "b": {"perplexity": 10.0}},
        owner={},
        samples=[],
    )
    decision = decide(scores, "a", "b", "perplexity", margin=0.05)
    assert (
        decision.promote and decision.why == "a over b: perplexity improved 10.0% (9.00 vs 10.00)"
    )
    assert not decide(scores, "a", "b", "perplexity", margin=0.2).promote


def test_resampled_stylometry_matches_the_measured_one() -> None:
    drafts = [*LIKE_OWNER[:3], *BROCHURE[:3], "", "🚀🚀"]
    counts = draft_counts(drafts, VOCABULARY)
    pooled = stylometry_distance(counts, OWNER_STYLE.to_json())(np.arange(len(drafts))[None, :])
    expected = stylometry.distance(stylometry.measure(drafts, VOCABULARY), OWNER_STYLE)
    assert pooled[0] == pytest.approx(expected)


def test_settings_know_the_new_metric_and_margin() -> None:
    TrainingSettings(promote_metric="voice").validate()
    TrainingSettings(promote_metric="auto", promote_margin=0.0).validate()
    with pytest.raises(ConfigError, match=r"training\.promote_metric must be one of auto, perp"):
        TrainingSettings(promote_metric="bleu").validate()
    with pytest.raises(ConfigError, match=r"training\.promote_margin must be in \[0, 1\)"):
        TrainingSettings(promote_margin=-0.1).validate()
    with pytest.raises(ValueError, match=NOT_ENOUGH):
        report(series(9.0, LIKE_OWNER, []), series(10.0, LIKE_OWNER, [])).beats(
            "new", "active", "voice"
        )
