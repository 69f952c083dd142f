"""The article's claims as experiments with verdicts computed from the numbers.

Every module in this package that registers an experiment (``@register(name, summary)``)
is imported here, so ``REGISTRY`` holds them all. ``ORDER`` is the article's order.
"""

from __future__ import annotations

import importlib
import pkgutil

from threefigures.experiments.core import REGISTRY, Context, Outcome, Report, run_experiment
from threefigures.experiments.verdict import Comparison, Verdict, compare, decide

ORDER = (
    "small-data",
    "dropout",
    "augmentation",
    "transfer",
    "losses",
    "activations",
    "devices",
    "depth",
)

for _info in pkgutil.iter_modules(__path__):
    if _info.name not in {"core", "verdict", "page"}:
        importlib.import_module(f"{__name__}.{_info.name}")


def names() -> list[str]:
    """Registered experiments, the article's order first."""
    return [n for n in ORDER if n in REGISTRY] + sorted(set(REGISTRY) - set(ORDER))


__all__ = [
    "ORDER",
    "REGISTRY",
    "Comparison",
    "Context",
    "Outcome",
    "Report",
    "Verdict",
    "compare",
    "decide",
    "names",
    "run_experiment",
]
