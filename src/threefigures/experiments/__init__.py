"""The article's claims as experiments with verdicts computed from the numbers.

Every module in this package that registers an experiment (``@register(name, summary)``)
is imported here, so ``REGISTRY`` holds them all (the rest is machinery they share: see
``SHARED``). ``ORDER`` is the article's order.
"""

from __future__ import annotations

import importlib
import pkgutil

from threefigures.experiments.claims import run_claims
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

#: Modules that register no experiment: the machinery the experiments share.
SHARED = frozenset({"core", "verdict", "page", "plots", "claims"})

for _info in pkgutil.iter_modules(__path__):
    if _info.name not in SHARED:
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
    "run_claims",
    "run_experiment",
]
