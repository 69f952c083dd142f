"""More figures for the claims experiments: panels side by side where each panel has its own
axes — its own units, x label, log scales and ticks — for experiments whose panels measure
different things (a loss per epoch beside a gradient norm per layer, say).

Inputs are plain numbers (means and standard deviations over seeds); nothing here knows
about models or verdicts. Lines are :class:`~threefigures.figures.claims.Series`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ._style import INK, MUTED, PathLike, figure, save
from .claims import COLOURS, Series, finish_panels, plot_series

__all__ = ["PALETTE", "Panel", "Series", "draw_panels", "draw_ratio_bars"]

#: The claims figures' colours, in order: give related series (the same activation before and
#: after training, say) the same colour by passing ``Series(colour=PALETTE[i])``.
PALETTE: tuple[str, ...] = tuple(COLOURS)


@dataclass
class Panel:
    """One axes: a title, its lines, and its own axis labels and scales. ``percent``: y
    values are fractions drawn as percentages. ``xticks``: where to put x ticks (with
    ``xticklabels``, what to write there)."""

    title: str
    series: Sequence[Series]
    xlabel: str
    ylabel: str
    logx: bool = False
    logy: bool = False
    percent: bool = False
    xticks: Sequence[float] | None = None
    xticklabels: Sequence[str] | None = None

    def check(self) -> None:
        if not self.series:
            raise ValueError(f"panel {self.title!r} has no series")
        for s in self.series:
            s.check()
        if self.xticklabels is not None and (
            self.xticks is None or len(self.xticks) != len(self.xticklabels)
        ):
            raise ValueError(f"panel {self.title!r}: xticklabels need as many xticks")
        if self.logy:
            for s in self.series:
                if np.any(np.asarray(s.y, dtype=float) <= 0):
                    raise ValueError(f"panel {self.title!r}: log y needs positive values")


def draw_panels(panels: Sequence[Panel], path: PathLike, *, title: str, subtitle: str = "") -> Path:
    """One axes per :class:`Panel`, side by side, with one legend under them (a label that
    appears in several panels is listed once, and keeps one colour everywhere unless a
    series sets its own). Returns the path written."""
    if not panels:
        raise ValueError("draw_panels needs at least one panel")
    for p in panels:
        p.check()
    n = len(panels)
    with figure(min(4.4 * n, 16.0), 4.8) as fig:
        axes = fig.subplots(1, n, squeeze=False)[0]
        colours: dict[str, str] = {}
        for ax, panel in zip(axes, panels, strict=True):
            plot_series(
                ax, panel.series, colours, scale=100.0 if panel.percent else 1.0, logy=panel.logy
            )
            ax.set_title(panel.title)
            ax.set_xlabel(panel.xlabel)
            ax.set_ylabel(panel.ylabel + (" (%)" if panel.percent else ""))
            if panel.logx:
                ax.set_xscale("log")
            if panel.logy:
                ax.set_yscale("log")
            if panel.xticks is not None:
                ax.set_xticks(list(panel.xticks))
                if panel.xticklabels is not None:
                    ax.set_xticklabels(list(panel.xticklabels))
                ax.minorticks_off()
            ax.grid(True, alpha=0.4)
        finish_panels(fig, axes, title, subtitle, bottom=0.17, wspace=0.32)
        return save(fig, path)


def draw_ratio_bars(
    groups: Sequence[tuple[str, Sequence[tuple[str, float, float | None]]]],
    path: PathLike,
    *,
    ylabel: str,
    title: str,
    subtitle: str = "",
    reference: float | None = 1.0,
    fmt: str = "{:.2f}×",
) -> Path:
    """Bars grouped by condition, for ratios such as speed-ups: ``groups`` = [(group,
    [(bar label, value, std or None)])], each bar labelled with ``fmt`` of its value and a
    dotted line at ``reference`` (1× = no change). Wide enough for a long title."""
    if not groups or any(len(bars) == 0 for _g, bars in groups):
        raise ValueError("draw_ratio_bars needs non-empty groups")
    labels: list[str] = []
    for _g, bars in groups:
        for label, value, _s in bars:
            if not np.isfinite(value):
                raise ValueError(f"bar {label!r}: value must be finite, got {value}")
            if label not in labels:
                labels.append(label)
    k = len(labels)
    width = 0.8 / k
    with figure(max(7.5, 1.5 + 0.55 * k * len(groups)), 4.8) as fig:
        ax = fig.add_subplot(1, 1, 1)
        for gi, (_group, bars) in enumerate(groups):
            for label, value, std in bars:
                j = labels.index(label)
                x = gi - 0.4 + width * (j + 0.5)
                ax.bar(
                    x,
                    value,
                    width * 0.92,
                    color=COLOURS[j % len(COLOURS)],
                    yerr=std,
                    capsize=2,
                    label=label if label not in ax.get_legend_handles_labels()[1] else None,
                )
                ax.text(x, value, fmt.format(value), ha="center", va="bottom", fontsize=7)
        if reference is not None:
            ax.axhline(reference, color=MUTED, linestyle=":", linewidth=1.0)
        ax.set_xticks(range(len(groups)), [g for g, _b in groups])
        ax.set_ylabel(ylabel)
        ax.grid(True, axis="y", alpha=0.4)
        ax.legend(loc="lower center", bbox_to_anchor=(0.5, -0.3), ncol=min(k, 4), frameon=False)
        fig.suptitle(title, x=0.01, ha="left", fontsize=12, fontweight="bold", color=INK)
        if subtitle:
            fig.text(0.01, 0.905, subtitle, fontsize=8.5, color=MUTED, ha="left")
        fig.subplots_adjust(top=0.82, bottom=0.28, left=0.1, right=0.98)
        return save(fig, path)
