from __future__ import annotations

import pytest

from retrieval.fusion import FusedScore, normalize, reciprocal_rank_fusion, relative_score_fusion


def test_normalize_min_max() -> None:
    assert normalize([10.0, 5.0, 0.0]) == [1.0, 0.5, 0.0]
    assert normalize([-1.0, -3.0]) == [1.0, 0.0]


@pytest.mark.parametrize("scores", [[4.2], [0.3, 0.3, 0.3]])
def test_normalize_all_equal_is_all_one(scores: list[float]) -> None:
    assert normalize(scores) == [1.0] * len(scores)


def test_normalize_empty() -> None:
    assert normalize([]) == []


def test_fused_is_weighted_sum_of_normalised_scores() -> None:
    bm25 = [("a", 8.0), ("b", 4.0), ("c", 0.0)]  # normalised: a 1, b 0.5, c 0
    vector = [("b", 0.9), ("c", 0.7), ("d", 0.5)]  # normalised: b 1, c 0.5, d 0
    fused = {f.key: f for f in relative_score_fusion(bm25, vector, alpha=0.25)}
    assert fused["a"].score == pytest.approx(0.75 * 1.0)  # missing from vector: 0 there
    assert fused["b"].score == pytest.approx(0.75 * 0.5 + 0.25 * 1.0)
    assert fused["c"].score == pytest.approx(0.25 * 0.5)
    assert fused["d"].score == pytest.approx(0.0)


def test_keeps_raw_leg_scores_and_marks_missing_with_none() -> None:
    fused = relative_score_fusion([("a", 3.5)], [("b", 0.8)], alpha=0.5)
    assert fused == [FusedScore("a", 0.5, 3.5, None), FusedScore("b", 0.5, None, 0.8)]


def test_sorted_best_first_with_deterministic_ties() -> None:
    # a and b tie at 0.5; b reached rank 0 of the vector list, a rank 0 of BM25: then key.
    fused = relative_score_fusion([("a", 2.0), ("c", 1.0)], [("b", 0.9), ("c", 0.1)], 0.5)
    assert [f.key for f in fused] == ["a", "b", "c"]
    assert [f.score for f in fused] == sorted((f.score for f in fused), reverse=True)


@pytest.mark.parametrize("alpha", [0.0, 1.0])
def test_extreme_alphas_follow_one_leg(alpha: float) -> None:
    bm25 = [("x", 9.0), ("y", 1.0)]
    vector = [("y", 0.99), ("x", 0.10)]
    top = relative_score_fusion(bm25, vector, alpha)[0]
    assert top.key == ("x" if alpha == 0.0 else "y")
    assert top.score == 1.0


def test_a_single_result_scores_one() -> None:
    assert relative_score_fusion([("only", 0.01)], [], alpha=0.0)[0].score == 1.0


def test_duplicate_key_in_a_leg_keeps_its_best_rank() -> None:
    [fused] = relative_score_fusion([("a", 5.0), ("a", 1.0)], [], alpha=0.0)
    assert fused.bm25_score == 5.0


def test_scores_never_leave_unit_interval() -> None:
    fused = relative_score_fusion([("a", 1.0), ("b", 0.0)], [("a", 1.0), ("b", 0.0)], alpha=0.7)
    assert fused[0].score == 1.0
    assert all(0.0 <= f.score <= 1.0 for f in fused)


def test_empty_inputs() -> None:
    assert relative_score_fusion([], [], alpha=0.5) == []


@pytest.mark.parametrize("alpha", [-0.1, 1.5])
def test_alpha_out_of_range(alpha: float) -> None:
    with pytest.raises(ValueError, match="alpha"):
        relative_score_fusion([], [], alpha)


def test_reciprocal_rank_fusion_rewards_agreement_between_rankings() -> None:
    fused = reciprocal_rank_fusion([["a", "b", "c"], ["c", "b", "d"], ["b"]])
    assert fused[0] == "b"  # second, second and first: the most agreed-on
    assert set(fused) == {"a", "b", "c", "d"}
    assert fused.index("c") < fused.index("a") < fused.index("d")
    assert reciprocal_rank_fusion([]) == []
