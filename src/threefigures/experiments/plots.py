"""Figure pieces the experiments share: a bar of a grouped bar chart, a line through the
mean of per-seed curves with its band, and the per-epoch validation-accuracy and
training-loss panels. The figure modules (and matplotlib) are imported only when a figure
is drawn."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from threefigures.figures.claims_more import Panel, Series
    from threefigures.training import History


def bar(label: str, values: Sequence[float]) -> tuple[str, float, float | None]:
    """A bar of ``draw_grouped_bars``: the mean over seeds and ±1 sd (none for one seed)."""
    spread = float(np.std(values, ddof=1)) if len(values) > 1 else None
    return (label, float(np.mean(values)), spread)


def mean_series(
    label: str, runs: Sequence[Sequence[float]], x: Sequence[float], **style: Any
) -> Series:
    """A line through the mean of ``runs`` (one curve per seed), with a ±1 sd band unless
    there is one run only. ``style``: ``dashed``, ``colour``."""
    from threefigures.figures.claims import Series

    arr = np.asarray(runs, dtype=float)
    band = None if len(arr) == 1 else list(arr.std(axis=0))
    return Series(label, x, list(arr.mean(axis=0)), band, **style)


def epochs_axis(epochs: int) -> list[int]:
    return list(range(1, epochs + 1))


def val_accuracy_panel(title: str, series: Sequence[Series], epochs: int) -> Panel:
    """Validation accuracy (in percent) per epoch."""
    from threefigures.figures.claims_more import Panel

    return Panel(
        title,
        series,
        xlabel="epoch",
        ylabel="validation accuracy",
        percent=True,
        xticks=epochs_axis(epochs),
    )


def train_loss_panel(
    title: str, series: Sequence[Series], epochs: int, ylabel: str = "training loss (log)"
) -> Panel:
    """Training loss per epoch, on a log scale."""
    from threefigures.figures.claims_more import Panel

    return Panel(
        title, series, xlabel="epoch", ylabel=ylabel, logy=True, xticks=epochs_axis(epochs)
    )


def val_accuracy_curve(history: History) -> list[float]:
    """A run's validation accuracy per epoch (NaN where there was no validation split)."""
    return [float(a) if a is not None else float("nan") for a in history.val_accuracy]
