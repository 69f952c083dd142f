"""What the "looking inside" drawers share and no other figure uses: their colour scales and
resolution, colour bars, attribution overlays and grids of image tiles. Their input checks are
in :mod:`.._checks`, and headings and axes placement in :mod:`.._layout`, with the other
figures'.

Everything here works on numpy arrays and plain Python values; nothing imports torch.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.cm import ScalarMappable
from matplotlib.colorbar import Colorbar
from matplotlib.colors import Colormap, Normalize
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from .._checks import Float
from .._layout import MARGIN, axes_at, frame, show_ink
from .._style import FAINT, INK, MUTED, PathLike, save

#: Colour map for signed values, always with limits symmetric around 0.
DIVERGING = "RdBu_r"
#: Colour map for non-negative values (activations after ReLU, gates in [0, 1]).
SEQUENTIAL = "viridis"
#: Colour map for non-negative attributions overlaid on the input.
HEAT_SEQUENTIAL = "magma"

#: Resolution of these figures: they are many per report, and 110 dpi keeps their text sharp
#: at about two thirds of the drawing time and file size of the default 150.
DPI = 110

#: Class names longer than this are cut in titles and bar labels.
NAME_LIMIT = 12
_BAD = "#eef2f6"  # padding cells of reshaped grids


# --- colour scales -------------------------------------------------------------------------------


def sym(values: Float) -> float:
    """The symmetric colour limit for signed ``values``: their largest magnitude (1 if all 0)."""
    m = float(np.max(np.abs(values))) if values.size else 0.0
    return m if m > 0 else 1.0


def sym_norm(values: Float) -> Normalize:
    """A norm symmetric around 0 that spans ``values``: white is always 0."""
    lim = sym(values)
    return Normalize(-lim, lim)


def cmap_with_bad(name: str) -> Colormap:
    """The colour map ``name``, painting NaN (padding, empty rows) pale grey."""
    return colormaps[name].with_extremes(bad=_BAD)


def scale(values: Float) -> tuple[str, Normalize, bool]:
    """(colour map, norm, signed): sequential from 0 when all values are ≥ 0, else diverging."""
    if values.size and float(values.min()) >= 0.0:
        top = float(values.max())
        return SEQUENTIAL, Normalize(0.0, top if top > 0 else 1.0), False
    return DIVERGING, sym_norm(values), True


# --- layout --------------------------------------------------------------------------------------


def save_figure(fig: Figure, path: PathLike) -> Path:
    """:func:`.._style.save` at these figures' resolution, :data:`DPI`."""
    return save(fig, path, dpi=DPI)


def colorbar(
    fig: Figure,
    cax: Axes,
    cmap: str | Colormap,
    norm: Normalize,
    label: str,
    *,
    horizontal: bool = False,
    fontsize: float = 7.5,
) -> Colorbar:
    """A thin colour bar without outline in ``cax``, labelled with ``label``."""
    bar = fig.colorbar(
        ScalarMappable(norm=norm, cmap=cmap),
        cax=cax,
        orientation="horizontal" if horizontal else "vertical",
    )
    bar.outline.set_visible(False)
    bar.ax.tick_params(labelsize=7, length=2)
    if horizontal:
        # Beside the bar, not under it: a long label would overrun a short bar's ends.
        cax.text(
            1.04,
            0.5,
            label,
            transform=cax.transAxes,
            ha="left",
            va="center",
            fontsize=fontsize,
            color=INK,
        )
    else:
        bar.set_label(label, fontsize=fontsize)
    return bar


def max_scale_bar(fig: Figure, width: float, height: float, y: float, label: str) -> None:
    """The key of tiles each drawn on its own symmetric scale: a short horizontal diverging
    bar at the bottom left, ``y`` inches up, ticked "−max", "0", "+max"."""
    cax = axes_at(fig, width, height, MARGIN, y, 1.8, 0.1)
    bar = colorbar(fig, cax, DIVERGING, Normalize(-1.0, 1.0), label, horizontal=True)
    bar.set_ticks([-1.0, 0.0, 1.0])
    bar.set_ticklabels(["−max", "0", "+max"])


def clean(ax: Axes, linewidth: float | None = 0.6) -> None:
    """No ticks, and a faint frame all round: for axes that show an image."""
    ax.set_xticks([])
    ax.set_yticks([])
    frame(ax, FAINT, linewidth)


def overlay(
    ax: Axes,
    image: Float,
    heat: Float,
    cmap: str,
    norm: Normalize,
    signed: bool,
    extent: tuple[float, float, float, float] | None = None,
) -> None:
    """The input in grey with the attribution on top, opaque where it is strong.

    The heat's opacity follows its magnitude, so weak attribution lets the input show through
    and the colour still reads off the colour bar.
    """
    common: dict[str, Any] = {"interpolation": "nearest", "origin": "upper"}
    if extent is not None:
        common.update(extent=extent, aspect="auto")
    ax.imshow(image, cmap="gray_r", vmin=0.0, vmax=1.6, **common)
    lim = float(norm.vmax) if norm.vmax else 1.0
    strength = np.abs(heat) / lim if signed else np.clip(heat, 0.0, None) / lim
    alpha = 0.9 * np.clip(strength, 0.0, 1.0) ** 0.6
    ax.imshow(heat, cmap=cmap, norm=norm, alpha=alpha, **common)


def input_tile(canvas: Axes, image: Float, y: float, side: float) -> Rectangle:
    """Draw the input as a ``side``-inch square at the left margin, ``y`` inches up, on an inch
    canvas; return its frame (drawn by the caller with the other tiles' frames)."""
    show_ink(canvas, image, extent=(MARGIN, MARGIN + side, y, y + side), aspect="auto")
    return Rectangle((MARGIN, y), side, side, fill=False, edgecolor=FAINT)


def tiles(
    canvas: Axes,
    images: Sequence[Float],
    x0: float,
    top: float,
    cols: int,
    size: float,
    cell_w: float,
    cell_h: float,
    *,
    cmap: str | Colormap,
    norms: Sequence[Normalize],
    above: Sequence[str] = (),
    below: Sequence[str] = (),
    title_h: float = 0.2,
    fontsize: float = 7.0,
) -> list[Rectangle]:
    """Draw ``images`` as a grid of ``size``-inch tiles on an inch canvas; return their frames.

    ``top`` is the top edge of the first row; each cell is ``cell_w`` × ``cell_h`` inches with
    ``title_h`` reserved above the tile for the ``above`` label and the ``below`` label under it.
    """
    frames: list[Rectangle] = []
    for k, img in enumerate(images):
        r, c = divmod(k, cols)
        ix = x0 + c * cell_w
        iy = top - r * cell_h - title_h - size
        h, w = img.shape
        # Keep the image's aspect inside the square tile.
        tw, th = (size, size * h / w) if w >= h else (size * w / h, size)
        ex = ix + (size - tw) / 2.0
        ey = iy + (size - th) / 2.0
        canvas.imshow(
            img,
            cmap=cmap,
            norm=norms[k],
            interpolation="nearest",
            extent=(ex, ex + tw, ey, ey + th),
            origin="upper",
            aspect="auto",
        )
        frames.append(Rectangle((ex, ey), tw, th, fill=False, edgecolor=FAINT, linewidth=0.5))
        if k < len(above) and above[k]:
            canvas.text(
                ix + size / 2.0,
                iy + size + 0.04,
                above[k],
                ha="center",
                va="bottom",
                fontsize=fontsize,
                color=INK,
                linespacing=1.05,
            )
        if k < len(below) and below[k]:
            canvas.text(
                ix + size / 2.0,
                iy - 0.04,
                below[k],
                ha="center",
                va="top",
                fontsize=fontsize,
                color=MUTED,
            )
    return frames
