"""The pieces of Figure 1's block diagram (:mod:`.blocks`): each kind of block's shape, the
arrows between blocks, the labels under them and the scales that size them. Sizes are inches
on an inch canvas (see :func:`._style.inch_canvas`)."""

from __future__ import annotations

import math
import textwrap

from matplotlib.axes import Axes
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch, Rectangle

from ._style import INK, MUTED, truncate


def root_scale(value: int, top: int, lo: float, hi: float) -> float:
    """Map ``value`` in 1..``top`` onto lo..hi on a square-root scale: halving a map's side
    visibly shrinks it, and a 1-pixel map is still ``lo`` tall next to a 28-pixel one."""
    if top <= 1:
        return hi
    return lo + (hi - lo) * (math.sqrt(value) - 1.0) / (math.sqrt(top) - 1.0)


def log_scale(value: int, top: int, lo: float, hi: float) -> float:
    """Map ``value`` in 1..``top`` onto lo..hi on a log(1 + x) scale (1 is still visible)."""
    if top <= 1:
        return hi
    return lo + (hi - lo) * math.log1p(value - 1) / math.log1p(top - 1)


def arrow(ax: Axes, x0: float, x1: float, y: float) -> None:
    ax.add_patch(
        FancyArrowPatch(
            (x0, y),
            (x1, y),
            arrowstyle="-|>",
            mutation_scale=9,
            color=MUTED,
            linewidth=1.0,
            shrinkA=0,
            shrinkB=0,
            zorder=2,
        )
    )


def feature_map(
    ax: Axes,
    left: float,
    mid: float,
    h: float,
    fw: float,
    depth: float,
    sheets: int,
    face: str,
    edge: str,
) -> None:
    """A feature map: ``sheets`` offset rectangles, the front one at the lower left."""
    dy_total = 0.55 * depth
    base = mid - (h + dy_total) / 2.0
    for k in reversed(range(sheets)):
        frac = k / (sheets - 1) if sheets > 1 else 0.0
        ax.add_patch(
            Rectangle(
                (left + frac * depth, base + frac * dy_total),
                fw,
                h,
                facecolor=face,
                edgecolor=edge,
                linewidth=1.1 if k == 0 else 0.7,
                zorder=3,
            )
        )


def vector_bar(ax: Axes, left: float, mid: float, h: float, w: float, face: str, edge: str) -> None:
    ax.add_patch(
        FancyBboxPatch(
            (left, mid - h / 2.0),
            w,
            h,
            boxstyle="round,pad=0,rounding_size=0.03",
            facecolor=face,
            edgecolor=edge,
            linewidth=1.1,
            zorder=3,
        )
    )


def step_columns(
    ax: Axes, left: float, mid: float, h: float, cols: int, col_w: float, face: str, edge: str
) -> None:
    """A sequence: one thin column per (drawn) time step."""
    step = col_w * 1.35
    for k in range(cols):
        ax.add_patch(
            Rectangle(
                (left + k * step, mid - h / 2.0),
                col_w,
                h,
                facecolor=face,
                edgecolor=edge,
                linewidth=0.9,
                zorder=3,
            )
        )


def recurrent_cell(
    ax: Axes, left: float, mid: float, h: float, w: float, face: str, edge: str
) -> None:
    """A recurrent cell: a box whose output loops back into itself."""
    vector_bar(ax, left, mid, h, w, face, edge)
    top = mid + h / 2.0
    ax.add_patch(
        FancyArrowPatch(
            (left + 0.78 * w, top),
            (left + 0.22 * w, top),
            connectionstyle="arc3,rad=1.0",
            arrowstyle="-|>",
            mutation_scale=9,
            color=edge,
            linewidth=1.2,
            shrinkA=0,
            shrinkB=0,
            zorder=4,
        )
    )
    ax.text(
        left + w / 2.0,
        mid,
        "$h_t$",
        ha="center",
        va="center",
        fontsize=10,
        color=edge,
        zorder=5,
    )


def block_labels(
    ax: Axes,
    cx: float,
    top: float,
    bottom: float,
    name: str,
    shape_line: str,
    params_line: str,
    notes: list[str],
    edge: str,
    slot: float,
) -> None:
    """A block's name at the ``top`` of its ``slot``-inch column centred on ``cx``; under the
    drawings, from ``bottom`` down, its shape (in its ``edge`` colour), its parameter count and
    up to four lines of notes, all cut to what the slot holds."""
    # Character budgets for labels, from the slot width (DejaVu Sans is ~0.55 em per char).
    name_chars = max(6, int(slot / (9.5 * 0.6 / 72.0)))
    note_chars = max(8, int(0.95 * slot / (7.0 * 0.55 / 72.0)))
    shape_fs = 8.5 if slot >= 1.0 else 7.5
    params_fs = 7.5 if slot >= 1.0 else 7.0
    ax.text(
        cx,
        top - 0.05,
        truncate(name, name_chars),
        ha="center",
        va="top",
        fontsize=9.5,
        fontweight="bold",
    )
    y = bottom - 0.08
    ax.text(
        cx,
        y,
        shape_line,
        ha="center",
        va="top",
        fontsize=shape_fs,
        fontweight="bold",
        color=edge,
    )
    ax.text(
        cx,
        y - 0.19,
        params_line,
        ha="center",
        va="top",
        fontsize=params_fs,
        color=INK,
    )
    lines: list[str] = []
    for note in notes:
        for part in note.split("\n"):
            lines.extend(textwrap.wrap(part, note_chars) or [""])
    if len(lines) > 4:
        lines = [*lines[:3], truncate(lines[3] + " " + " ".join(lines[4:]), note_chars)]
    if lines:
        ax.text(
            cx,
            y - 0.36,
            "\n".join(truncate(line, note_chars) for line in lines),
            ha="center",
            va="top",
            fontsize=7,
            color=MUTED,
            linespacing=1.15,
        )
