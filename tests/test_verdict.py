"""The verdict logic on constructed numbers: no sentence is written in advance."""

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
    compare,
    decide,
)


def test_clear_win_supports() -> None:
    c = compare("a vs b", [0.95, 0.96, 0.955], [0.90, 0.91, 0.905])
    assert c.outcome == SUPPORTS
    assert c.effect == pytest.approx(0.05)
    assert 0 < c.noise < c.effect


def test_clear_loss_contradicts() -> None:
    assert compare("a vs b", [0.80, 0.81, 0.805], [0.90, 0.91, 0.905]).outcome == CONTRADICTS


def test_overlapping_spreads_are_unclear() -> None:
    c = compare("a vs b", [0.90, 0.95, 0.85], [0.91, 0.86, 0.93])
    assert c.outcome == UNCLEAR
    assert abs(c.effect) < c.noise


def test_one_seed_only_min_effect_counts() -> None:
    assert compare("a", [0.903], [0.900]).outcome == UNCLEAR  # 0.3 points < 0.5
    c = compare("a", [0.91], [0.90])
    assert c.outcome == SUPPORTS and c.noise == 0.0
    assert compare("a", [0.91], [0.90], min_effect=0.02).outcome == UNCLEAR


def test_lower_is_better() -> None:
    faster = compare("seconds", [1.0, 1.1, 1.05], [2.0, 2.1, 2.05], higher_is_better=False)
    assert faster.outcome == SUPPORTS and faster.effect == pytest.approx(1.0)


def test_standard_error_uses_every_seed() -> None:
    a, b = [1.0, 2.0, 3.0], [0.0, 0.0, 0.0]
    c = compare("x", a, b, min_effect=0.0)
    assert c.noise == pytest.approx(2 * math.sqrt(1.0 / 3))


def test_decide_holds_mixed_and_does_not_hold() -> None:
    win = compare("w", [0.95, 0.96], [0.90, 0.91])
    loss = compare("l", [0.80, 0.81], [0.90, 0.91])
    flat = compare("f", [0.90, 0.91], [0.905, 0.905])
    assert decide([win, flat]).label == HOLDS
    assert decide([win, loss]).label == MIXED
    assert decide([loss, flat]).label == DOES_NOT_HOLD
    assert decide([flat, flat]).label == DOES_NOT_HOLD
    v = decide([win, loss, flat])
    assert (v.supports, v.contradicts, v.unclear) == (1, 1, 1)
    assert "1 of 3 comparisons support the claim" in v.summary


@pytest.mark.parametrize("bad", [[], [float("nan")], [float("inf"), 1.0]])
def test_bad_measurements_are_refused(bad: list[float]) -> None:
    with pytest.raises(ValueError):
        compare("x", bad, [1.0])
    with pytest.raises(ValueError):
        decide([])
