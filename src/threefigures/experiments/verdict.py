"""Verdicts computed from numbers, never written in advance.

A claim is tested by one or more *comparisons*, each "A should beat B" on some measured
quantity (test accuracy, final loss, …) over seeds. A comparison supports the claim when A's
mean beats B's by more than the noise, contradicts it when B's beats A's by more than the
noise, and is unclear otherwise. The noise is twice the standard error of the difference of
the means over seeds (with one seed there is none to estimate, so only ``min_effect``
counts). The verdict on the claim:

- **holds**: at least one comparison supports it and none contradicts it;
- **does not hold here**: none supports it (some contradict it, or no difference is clear);
- **mixed**: some comparisons support it and others contradict it.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

HOLDS = "holds"
DOES_NOT_HOLD = "does not hold here"
MIXED = "mixed"

SUPPORTS = "supports"
CONTRADICTS = "contradicts"
UNCLEAR = "unclear"


@dataclass(frozen=True)
class Comparison:
    """``label``: what is compared ("SVM vs MLP at 100 examples"). ``effect``: mean(A) −
    mean(B) in the measure's units, signed so positive favours the claim. ``noise``: twice the
    standard error of that difference (0 with one seed). ``outcome``: supports / contradicts /
    unclear."""

    label: str
    effect: float
    noise: float
    outcome: str
    mean_a: float
    mean_b: float
    n_a: int
    n_b: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Verdict:
    label: str  # holds | does not hold here | mixed
    supports: int
    contradicts: int
    unclear: int
    summary: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _clean(values: Sequence[float], name: str) -> list[float]:
    out = [float(v) for v in values]
    if not out:
        raise ValueError(f"{name}: no measurements")
    if not all(math.isfinite(v) for v in out):
        raise ValueError(f"{name}: measurements must be finite, got {out}")
    return out


def compare(
    label: str,
    a: Sequence[float],
    b: Sequence[float],
    *,
    higher_is_better: bool = True,
    min_effect: float = 0.005,
) -> Comparison:
    """Does A beat B? ``a`` and ``b`` are one measurement per seed. ``min_effect``: the
    smallest difference that counts at all (0.5 accuracy points by default)."""
    xa, xb = _clean(a, f"{label} (A)"), _clean(b, f"{label} (B)")
    mean_a, mean_b = statistics.fmean(xa), statistics.fmean(xb)
    effect = (mean_a - mean_b) if higher_is_better else (mean_b - mean_a)
    var_a = statistics.variance(xa) if len(xa) > 1 else 0.0
    var_b = statistics.variance(xb) if len(xb) > 1 else 0.0
    noise = 2.0 * math.sqrt(var_a / len(xa) + var_b / len(xb))
    threshold = max(noise, min_effect)
    if effect > threshold:
        outcome = SUPPORTS
    elif effect < -threshold:
        outcome = CONTRADICTS
    else:
        outcome = UNCLEAR
    return Comparison(label, effect, noise, outcome, mean_a, mean_b, len(xa), len(xb))


def decide(comparisons: Sequence[Comparison]) -> Verdict:
    """The claim's verdict from its comparisons (see the module docstring)."""
    if not comparisons:
        raise ValueError("a verdict needs at least one comparison")
    supports = sum(c.outcome == SUPPORTS for c in comparisons)
    contradicts = sum(c.outcome == CONTRADICTS for c in comparisons)
    unclear = len(comparisons) - supports - contradicts
    if supports and contradicts:
        label = MIXED
    elif supports:
        label = HOLDS
    else:
        label = DOES_NOT_HOLD
    parts = [f"{supports} of {len(comparisons)} comparisons support the claim"]
    if contradicts:
        parts.append(f"{contradicts} contradict it")
    if unclear:
        parts.append(f"{unclear} show no difference beyond the noise")
    return Verdict(label, supports, contradicts, unclear, "; ".join(parts) + ".")
