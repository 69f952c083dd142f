"""Verdicts from constructed numbers: experiments/verdict.py's compare and decide."""

from __future__ import annotations

import math

import pytest

from threefigures.experiments.verdict import (
    CONTRADICTS,
    DOES_NOT_HOLD,
    HOLDS,
    MIXED,
    SUPPORTS,
    UNCLEAR,
    Comparison,
    compare,
    decide,
)


def _outcome(outcome: str) -> Comparison:
    return Comparison("c", 0.0, 0.0, outcome, 0.0, 0.0, 1, 1)


def test_clear_win_supports() -> None:
    c = compare("A vs B", [0.95, 0.96, 0.955], [0.90, 0.91, 0.905])
    assert c.outcome == SUPPORTS
    assert c.effect == pytest.approx(0.05)
    assert c.mean_a == pytest.approx(0.955) and c.mean_b == pytest.approx(0.905)
    assert (c.n_a, c.n_b) == (3, 3)
    # noise: twice the standard error of the difference of the means
    assert c.noise == pytest.approx(2 * math.sqrt(0.005**2 / 3 + 0.005**2 / 3))
    assert c.effect > c.noise


def test_clear_loss_contradicts() -> None:
    c = compare("A vs B", [0.80, 0.81, 0.805], [0.90, 0.91, 0.905])
    assert c.outcome == CONTRADICTS
    assert c.effect == pytest.approx(-0.1)


def test_overlapping_spreads_are_unclear() -> None:
    # A is ahead by 2 points on average, but the seeds scatter by ±5: within the noise
    c = compare("A vs B", [0.85, 0.95, 0.90], [0.83, 0.93, 0.88])
    assert c.effect == pytest.approx(0.02)
    assert c.noise > abs(c.effect)
    assert c.outcome == UNCLEAR


def test_one_seed_only_min_effect_counts() -> None:
    small = compare("A vs B", [0.903], [0.900])
    assert small.noise == 0.0 and small.outcome == UNCLEAR  # 0.3 points < 0.5
    big = compare("A vs B", [0.91], [0.90])
    assert big.noise == 0.0 and big.outcome == SUPPORTS  # 1 point > 0.5
    assert compare("A vs B", [0.89], [0.90]).outcome == CONTRADICTS
    # a larger min_effect turns the same one-point lead into no difference
    assert compare("A vs B", [0.91], [0.90], min_effect=0.02).outcome == UNCLEAR
    # one seed on one side only: the other side's variance still counts
    mixed_n = compare("A vs B", [0.91], [0.85, 0.95, 0.90])
    assert mixed_n.noise > 0 and mixed_n.outcome == UNCLEAR


def test_min_effect_dominates_tiny_noise() -> None:
    # very consistent seeds: the noise is below min_effect, so min_effect decides
    c = compare("A vs B", [0.902, 0.902, 0.902], [0.900, 0.900, 0.900])
    assert c.noise == pytest.approx(0.0, abs=1e-12)
    assert c.outcome == UNCLEAR


def test_lower_is_better() -> None:
    # A's loss (or time) is lower: that favours A when higher_is_better=False
    c = compare("A vs B", [1.0, 1.1, 1.05], [2.0, 2.1, 2.05], higher_is_better=False)
    assert c.outcome == SUPPORTS
    assert c.effect == pytest.approx(1.0)  # mean(B) − mean(A)
    assert compare("A vs B", [2.0], [1.0], higher_is_better=False).outcome == CONTRADICTS
    assert compare("A vs B", [2.0], [1.0]).outcome == SUPPORTS  # the same numbers, other way


def test_decide_holds_mixed_and_does_not_hold() -> None:
    holds = decide([_outcome(SUPPORTS), _outcome(UNCLEAR)])
    assert holds.label == HOLDS
    assert (holds.supports, holds.contradicts, holds.unclear) == (1, 0, 1)
    mixed = decide([_outcome(SUPPORTS), _outcome(CONTRADICTS)])
    assert mixed.label == MIXED
    assert (mixed.supports, mixed.contradicts, mixed.unclear) == (1, 1, 0)
    assert "1 contradict it" in mixed.summary
    against = decide([_outcome(CONTRADICTS), _outcome(UNCLEAR)])
    assert against.label == DOES_NOT_HOLD


def test_all_unclear_does_not_hold() -> None:
    v = decide([_outcome(UNCLEAR)] * 3)
    assert v.label == DOES_NOT_HOLD
    assert (v.supports, v.contradicts, v.unclear) == (0, 0, 3)
    assert v.summary.startswith("0 of 3 comparisons support the claim")
    assert "3 show no difference beyond the noise" in v.summary


def test_decide_from_real_comparisons() -> None:
    win = compare("win", [0.95, 0.96], [0.90, 0.91])
    loss = compare("loss", [0.80, 0.81], [0.90, 0.91])
    tie = compare("tie", [0.90, 0.91], [0.90, 0.91])
    assert decide([win, tie]).label == HOLDS
    assert decide([win, loss, tie]).label == MIXED
    assert decide([loss, tie]).label == DOES_NOT_HOLD
    assert decide([win]).to_dict()["label"] == HOLDS


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ([], [0.9]),
        ([0.9], []),
        ([0.9, math.nan], [0.9]),
        ([0.9], [math.inf]),
        ([-math.inf], [0.9]),
    ],
)
def test_empty_or_non_finite_input_is_an_error(a: list[float], b: list[float]) -> None:
    with pytest.raises(ValueError):
        compare("bad", a, b)


def test_decide_needs_a_comparison() -> None:
    with pytest.raises(ValueError):
        decide([])
