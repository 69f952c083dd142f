"""Shared look and the atomic ``save`` helper for every figure.

The Agg backend is selected before :mod:`matplotlib.pyplot` is imported, so drawing never needs
a display. Figures are drawn inside :func:`style` (an ``rc_context``) so the house style does not
leak into the caller's own matplotlib settings.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TypeAlias

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.table import Table

PathLike: TypeAlias = str | os.PathLike[str]

#: Colours used consistently across the figures.
INK = "#1f2933"
MUTED = "#7b8794"
FAINT = "#cbd2d9"
BLUE = "#2f6fb3"
ORANGE = "#e07b2a"
GREEN = "#2e8b57"
RED = "#c62828"

#: Monospace face, for texts drawn character by character.
MONO = "DejaVu Sans Mono"


@contextlib.contextmanager
def style() -> Iterator[None]:
    """Apply the shared small, quiet style for the duration of the ``with`` block."""
    # The dict is written inline so type checkers see its keys as rcParams names.
    with plt.rc_context(
        {
            "font.family": "DejaVu Sans",
            "font.size": 9,
            "axes.titlesize": 10,
            "axes.labelsize": 9,
            "axes.edgecolor": MUTED,
            "axes.labelcolor": INK,
            "axes.linewidth": 0.8,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "axes.grid": False,
            "grid.color": FAINT,
            "grid.linewidth": 0.5,
            "xtick.color": INK,
            "ytick.color": INK,
            "xtick.labelsize": 8,
            "ytick.labelsize": 8,
            "legend.fontsize": 8,
            "legend.frameon": False,
            "text.color": INK,
            "figure.facecolor": "white",
            "axes.facecolor": "white",
            "savefig.facecolor": "white",
        }
    ):
        yield


@contextlib.contextmanager
def figure(width: float, height: float) -> Iterator[Figure]:
    """Yield a white ``width`` × ``height`` inch figure drawn in the shared style.

    The figure is always closed when the block ends, also when drawing fails, so pyplot never
    accumulates open figures.
    """
    with style():
        fig = plt.figure(figsize=(width, height), facecolor="white")
        try:
            yield fig
        finally:
            plt.close(fig)


def inch_canvas(fig: Figure, width: float, height: float) -> Axes:
    """One axes over the whole figure, in inch coordinates: every figure that places many
    small items draws them on one canvas (far faster than an axes per item)."""
    canvas = fig.add_axes((0.0, 0.0, 1.0, 1.0))
    canvas.set_axis_off()
    canvas.set_autoscale_on(False)
    canvas.set_xlim(0.0, width)
    canvas.set_ylim(0.0, height)
    return canvas


def style_table(table: Table, *, bold_last_row: bool = False) -> None:
    """The look of the text tables under Figure 1: faint rules, a shaded bold header."""
    last = max(row for row, _col in table.get_celld())
    for (row, _col), cell in table.get_celld().items():
        cell.set_edgecolor(FAINT)
        cell.set_linewidth(0.6)
        if row == 0:
            cell.set_facecolor("#eef2f6")
            cell.get_text().set_fontweight("bold")
        elif bold_last_row and row == last:
            cell.get_text().set_fontweight("bold")


def truncate(text: str, limit: int) -> str:
    """Shorten ``text`` to at most ``limit`` characters, marking the cut with an ellipsis."""
    if len(text) <= limit:
        return text
    if limit <= 1:
        return "…"[: max(limit, 0)]
    return text[: limit - 1].rstrip() + "…"


def save(fig: Figure, path: PathLike, dpi: int = 150) -> Path:
    """Write ``fig`` to ``path`` atomically, close it, and return the path written.

    Parent folders are created as needed. The image is first written to a temporary file in the
    destination folder and then moved over ``path`` with :func:`os.replace`, so readers never see
    a half-written figure and a failed draw leaves no stray file behind. The format follows the
    file suffix (PNG when there is none).
    """
    out = Path(path)
    try:
        if dpi <= 0:
            raise ValueError(f"dpi must be positive, got {dpi}")
        fmt = out.suffix.lstrip(".").lower() or "png"
        supported = fig.canvas.get_supported_filetypes()
        if fmt not in supported:
            names = ", ".join(sorted(supported))
            raise ValueError(f"cannot save a figure as {fmt!r} ({out.name}); use one of: {names}")
        out.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as fh:
                fig.savefig(fh, format=fmt, dpi=dpi, facecolor="white")
            tmp.chmod(0o644)  # mkstemp creates 0600; a figure is meant to be shared
            os.replace(tmp, out)
        except BaseException:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise
    finally:
        plt.close(fig)
    return out
