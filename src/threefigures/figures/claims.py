"""Figures for the claims experiments: line panels with spread bands, and grouped bars.

Inputs are plain numbers (means and standard deviations over seeds); nothing here knows
about models or verdicts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ._style import INK, MUTED, PathLike, figure, save

COLOURS = [
    "#2f6fb3",
    "#e07b2a",
    "#2e8b57",
    "#c62828",
    "#7b4ea3",
    "#8c6d31",
    "#d6619b",
    "#4d4d4d",
    "#17a2b8",
    "#9aa33b",
]


@dataclass
class Series:
    """One line: y (mean over seeds) against x, with an optional ±std band."""

    label: str
    x: Sequence[float]
    y: Sequence[float]
    std: Sequence[float] | None = None
    dashed: bool = False
    colour: str | None = None
    meta: Mapping[str, str] = field(default_factory=dict)

    def check(self) -> None:
        if len(self.x) != len(self.y) or (self.std is not None and len(self.std) != len(self.y)):
            raise ValueError(f"series {self.label!r}: x, y and std must have the same length")
        if len(self.y) == 0:
            raise ValueError(f"series {self.label!r} is empty")


def plot_series(
    ax: Any,
    series: Sequence[Series],
    colours: dict[str, str],
    *,
    scale: float = 1.0,
    logy: bool = False,
) -> None:
    """Draw each series on ``ax`` as a line with markers, and a ±std band where it has one.
    ``colours`` maps labels to colours across panels (a label keeps its colour; new labels
    take the next one); ``scale`` multiplies y (100 for percentages)."""
    for s in series:
        colour = s.colour or colours.setdefault(s.label, COLOURS[len(colours) % len(COLOURS)])
        x = np.asarray(s.x, dtype=float)
        y = np.asarray(s.y, dtype=float) * scale
        ax.plot(
            x,
            y,
            color=colour,
            linestyle="--" if s.dashed else "-",
            marker="o",
            markersize=3,
            linewidth=1.6,
            label=s.label,
        )
        if s.std is not None:
            sd = np.asarray(s.std, dtype=float) * scale
            low = y - sd
            if logy:  # a band through zero cannot be drawn on a log axis
                low = np.maximum(low, y * 0.05)
            ax.fill_between(x, low, y + sd, color=colour, alpha=0.15, linewidth=0)


def draw_line_panels(
    panels: Sequence[tuple[str, Sequence[Series]]],
    path: PathLike,
    *,
    xlabel: str,
    ylabel: str,
    title: str,
    subtitle: str = "",
    logx: bool = False,
    logy: bool = False,
    percent: bool = False,
) -> Path:
    """One panel per (panel title, series); a shared legend under the panels. ``percent``:
    y values are fractions drawn as percentages."""
    if not panels:
        raise ValueError("draw_line_panels needs at least one panel")
    for _name, series in panels:
        for s in series:
            s.check()
    n = len(panels)
    width = min(4.2 * n, 16.0)
    with figure(width, 4.6) as fig:
        axes = fig.subplots(1, n, squeeze=False)[0]
        colours: dict[str, str] = {}
        for ax, (name, series) in zip(axes, panels, strict=True):
            plot_series(ax, series, colours, scale=100.0 if percent else 1.0, logy=logy)
            ax.set_title(name)
            ax.set_xlabel(xlabel)
            ax.set_ylabel(ylabel + (" (%)" if percent else ""))
            if logx:
                ax.set_xscale("log")
            if logy:
                ax.set_yscale("log")
            ax.grid(True, alpha=0.4)
        finish_panels(fig, axes, title, subtitle, bottom=0.18, wspace=0.3)
        return save(fig, path)


def finish_panels(
    fig: Any, axes: Sequence[Any], title: str, subtitle: str, *, bottom: float, wspace: float
) -> None:
    """One legend for all panels (each label once) under them, the title and subtitle above,
    and room for both."""
    handles, labels = [], []
    for ax in axes:
        for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 5), frameon=False)
    fig.suptitle(title, x=0.01, ha="left", fontsize=12, fontweight="bold", color=INK)
    if subtitle:
        fig.text(0.01, 0.905, subtitle, fontsize=8.5, color=MUTED, ha="left")
    rows = (len(labels) + 4) // 5
    fig.subplots_adjust(top=0.82, bottom=bottom + 0.05 * rows, wspace=wspace, left=0.07, right=0.98)


def draw_grouped_bars(
    groups: Sequence[tuple[str, Sequence[tuple[str, float, float | None]]]],
    path: PathLike,
    *,
    ylabel: str,
    title: str,
    subtitle: str = "",
    percent: bool = True,
) -> Path:
    """Bars grouped by condition: ``groups`` = [(group, [(bar label, mean, std or None)])]."""
    if not groups or any(len(bars) == 0 for _g, bars in groups):
        raise ValueError("draw_grouped_bars needs non-empty groups")
    labels: list[str] = []
    for _g, bars in groups:
        for label, _m, _s in bars:
            if label not in labels:
                labels.append(label)
    k = len(labels)
    width = 0.8 / k
    scale = 100.0 if percent else 1.0
    with figure(max(5.0, 1.2 + 0.5 * k * len(groups)), 4.6) as fig:
        ax = fig.add_subplot(1, 1, 1)
        lows = []
        legend_done: set[str] = set()  # each label in the legend once, where it first appears
        for gi, (_group, bars) in enumerate(groups):
            for label, mean, std in bars:
                j = labels.index(label)
                x = gi - 0.4 + width * (j + 0.5)
                ax.bar(
                    x,
                    mean * scale,
                    width * 0.92,
                    color=COLOURS[j % len(COLOURS)],
                    yerr=None if std is None else std * scale,
                    capsize=2,
                    label=None if label in legend_done else label,
                )
                legend_done.add(label)
                ax.text(
                    x, mean * scale, f"{mean * scale:.1f}", ha="center", va="bottom", fontsize=6.5
                )
                lows.append(mean * scale)
        ax.set_xticks(range(len(groups)), [g for g, _b in groups])
        ax.set_ylabel(ylabel + (" (%)" if percent else ""))
        if percent and lows:
            ax.set_ylim(max(0.0, min(lows) - 10), min(100.0, max(lows) + 5))
        ax.grid(True, axis="y", alpha=0.4)
        ax.legend(loc="lower center", bbox_to_anchor=(0.5, -0.3), ncol=min(k, 5), frameon=False)
        fig.suptitle(title, x=0.01, ha="left", fontsize=12, fontweight="bold", color=INK)
        if subtitle:
            fig.text(0.01, 0.905, subtitle, fontsize=8.5, color=MUTED, ha="left")
        fig.subplots_adjust(top=0.82, bottom=0.28, left=0.14, right=0.98)
        return save(fig, path)
