"""Where things go on a figure: headings, axes placed in inches, images, patch collections and
class matrices, shared by the figures so each is drawn one way. Nothing here imports torch.

Sizes and positions are in inches unless said otherwise; the figures' look (colours, fonts) is
in :mod:`._style`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.collections import PatchCollection
from matplotlib.colors import Colormap, Normalize
from matplotlib.figure import Figure
from matplotlib.image import AxesImage
from matplotlib.patches import Patch

from ._style import INK, MUTED, figure

#: Side margin and height of the :func:`headed_figure` heading of the compact figures, in inches.
MARGIN = 0.3
HEADER_H = 0.95
#: Matrix cells carry their value only up to this many classes (beyond it text is unreadable).
MAX_ANNOTATED_CLASSES = 30


def axes_at(
    fig: Figure, width: float, height: float, x: float, y: float, w: float, h: float
) -> Axes:
    """An axes at (x, y) inches from the bottom-left corner of a ``width`` × ``height`` inch
    figure, ``w`` × ``h`` inches in size."""
    return fig.add_axes((x / width, y / height, w / width, h / height))


@contextlib.contextmanager
def headed_figure(
    width: float,
    height: float,
    title: str,
    subtitle: str = "",
    key: str = "",
    *,
    title_size: float | None = None,
    subtitle_size: float = 9.0,
) -> Iterator[Figure]:
    """A ``width`` × ``height`` inch :func:`._style.figure` that opens with the heading of the
    compact figures: a bold title, an ink subtitle line and a muted key line, all in the top
    :data:`HEADER_H` inches. The title is 13 pt on figures wider than 6 inches and 11 pt on
    narrower ones, unless ``title_size`` says otherwise."""
    with figure(width, height) as fig:
        fig.text(
            MARGIN / width,
            1 - 0.3 / height,
            title,
            fontsize=title_size or (13 if width > 6 else 11),
            fontweight="bold",
            ha="left",
            va="center",
        )
        if subtitle:
            fig.text(
                MARGIN / width, 1 - 0.58 / height, subtitle, fontsize=subtitle_size, va="center"
            )
        if key:
            fig.text(MARGIN / width, 1 - 0.78 / height, key, fontsize=8, color=MUTED, va="center")
        yield fig


def page_heading(
    fig: Figure,
    width: float,
    height: float,
    title: str,
    summary: str,
    *,
    subtitle: str | None = None,
    one_line: bool = False,
) -> None:
    """The heading of the page-wide Figures 1 and 2: a 14 pt bold title over muted lines.

    Figure 1 writes the ``subtitle`` (when given) and the ``summary`` down from 0.55 inch under
    the top edge, 1.4 lines apart; Figure 2 (``one_line``) centres its one summary line 0.62
    inch under it, with matplotlib's own line metrics."""
    fig.text(
        0.4 / width,
        1 - 0.3 / height,
        title,
        fontsize=14,
        fontweight="bold",
        ha="left",
        va="center",
    )
    text = f"{subtitle}\n{summary}" if subtitle else summary
    y = 0.62 if one_line else 0.55
    place: dict[str, Any] = {"va": "center"} if one_line else {"va": "top", "linespacing": 1.4}
    fig.text(0.4 / width, 1 - y / height, text, fontsize=9.5, color=MUTED, ha="left", **place)


def show_ink(ax: Axes, image: np.ndarray, **kwargs: Any) -> AxesImage:
    """Draw ``image`` (values in [0, 1], 1 = ink) as dark ink on white, pixels unsmoothed;
    ``kwargs`` (extent, zorder, ...) go to :meth:`~matplotlib.axes.Axes.imshow`."""
    return ax.imshow(image, cmap="gray_r", vmin=0.0, vmax=1.0, interpolation="nearest", **kwargs)


def add_patches(ax: Axes, patches: Sequence[Patch], **kwargs: Any) -> None:
    """Add ``patches`` as one collection: far faster to draw than hundreds of single patches."""
    ax.add_collection(PatchCollection(patches, match_original=True, **kwargs), autolim=False)


def frame(ax: Axes, colour: str, linewidth: float | None = None) -> None:
    """Show all four spines of ``ax`` in ``colour`` (the style hides the top and right ones)."""
    for spine in ax.spines.values():
        spine.set_visible(True)
        spine.set_color(colour)
        if linewidth is not None:
            spine.set_linewidth(linewidth)


def matrix_margins(names: Sequence[str], tick_fs: float, pad: float) -> tuple[bool, float, float]:
    """(long names, left, bottom): room in inches for a class matrix's tick labels, written
    at ``tick_fs`` points beside it and, when any name is longer than 3 characters, at 45°
    under it."""
    longest = max((len(name) for name in names), default=1)
    long_names = longest > 3
    char_in = 0.075 * tick_fs / 9.0  # rough width of one tick-label character, in inches
    left = pad + char_in * longest
    bottom = pad + (0.72 * char_in * longest if long_names else 0.0)
    return long_names, left, bottom


def draw_matrix(
    ax: Axes,
    shown: np.ndarray,
    names: Sequence[str],
    *,
    cmap: str | Colormap,
    norm: Normalize,
    tick_fs: float,
    long_names: bool,
    row_names: bool = True,
) -> AxesImage:
    """A confusion matrix's grid: rows are true classes, columns predictions, both labelled
    with ``names`` (rows only when ``row_names``), framed in :data:`MUTED`."""
    n = len(names)
    image = ax.imshow(shown, cmap=cmap, norm=norm, interpolation="nearest")
    ax.set_xticks(np.arange(n))
    ax.set_yticks(np.arange(n))
    ax.set_xticklabels(
        names,
        fontsize=tick_fs,
        rotation=45 if long_names else 0,
        ha="right" if long_names else "center",
        rotation_mode="anchor",
    )
    if row_names:
        ax.set_yticklabels(names, fontsize=tick_fs)
        ax.set_ylabel("true class")
    else:
        ax.set_yticklabels([])
    ax.set_xlabel("predicted class")
    ax.tick_params(length=0)
    frame(ax, MUTED)
    return image


def annotate_cells(
    ax: Axes, texts: Sequence[Sequence[str]], values: np.ndarray, vmax: float, fontsize: float
) -> None:
    """Write ``texts[i][j]`` in cell (i, j) of a matrix drawn by :func:`draw_matrix`: white on
    dark cells (``values`` above 55% of ``vmax``), bold on the diagonal."""
    for i, row in enumerate(texts):
        for j, text in enumerate(row):
            ax.text(
                j,
                i,
                text,
                ha="center",
                va="center",
                fontsize=fontsize,
                color="white" if values[i, j] > 0.55 * vmax else INK,
                fontweight="bold" if i == j else "normal",
            )
