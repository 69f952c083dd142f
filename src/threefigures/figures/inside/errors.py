"""Errors: the examples the network got most wrong, and its confusion matrix as counts and
as shares of each true class."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.colors import Normalize
from matplotlib.patches import Rectangle
from matplotlib.ticker import FuncFormatter

from .._checks import (
    Float,
    accuracy_line,
    as_class_indices,
    as_confusion,
    as_finite,
    as_image,
    as_names,
    count_text,
    percent,
)
from .._layout import (
    HEADER_H,
    MARGIN,
    MAX_ANNOTATED_CLASSES,
    add_patches,
    annotate_cells,
    axes_at,
    draw_matrix,
    headed_figure,
    matrix_margins,
    show_ink,
)
from .._style import FAINT, GREEN, INK, MUTED, RED, PathLike, inch_canvas, truncate
from ._common import (
    DIVERGING,
    NAME_LIMIT,
    cmap_with_bad,
    colorbar,
    max_scale_bar,
    overlay,
    save_figure,
    sym_norm,
)

#: At most this many examples per row in :func:`draw_top_losses`.
TOP_LOSSES_COLS = 6


def _loss_title(true: str, pred: str, p: float) -> str:
    text = f"true {true} → pred {pred} ({percent(p)})"
    if len(text) > 24:
        text = f"true {true}\n→ pred {pred} ({percent(p)})"
    return text


def draw_top_losses(
    images: np.ndarray,
    heats: np.ndarray | None,
    true: np.ndarray,
    pred: np.ndarray,
    probs: np.ndarray,
    classes: Sequence[str],
    path: PathLike,
    *,
    title: str = "",
) -> Path:
    """Draw the examples the network got most wrong, with their attribution; return the path.

    Each example is its image (with the attribution overlaid when ``heats`` are given, on its
    own symmetric scale), titled "true 4 → pred 9 (97%)": red when the prediction is wrong.
    With no examples the figure says so (a file is still written).

    Args:
        images: (K, H, W) images in [0, 1] (or uint8).
        heats: (K, H, W) attributions, or None.
        true: (K,) true class indices.
        pred: (K,) predicted class indices.
        probs: (K,) probability the network gave its prediction.
        classes: Class names.
        path: Where to write the image.
        title: Heading; a default one is used when empty.

    Raises:
        ValueError: If lengths or shapes disagree, values are not finite, probabilities are
            outside [0, 1], or labels are not class indices.
    """
    names = as_names(classes, "classes")
    k_true = np.asarray(true).reshape(-1).shape[0]
    raw = np.asarray(images)
    if raw.size == 0 and k_true == 0:
        imgs = np.zeros((0, 1, 1))
    else:
        imgs = as_image(images, "images", ndim=3)
    k = imgs.shape[0]
    t = as_class_indices(true, "true", k, len(names), "images")
    pr = as_class_indices(pred, "pred", k, len(names), "images")
    p = np.asarray(probs, dtype=np.float64).reshape(-1)
    if p.shape[0] != k:
        raise ValueError(f"probs has {p.shape[0]} entries but there are {k} images")
    if p.size and (not np.all(np.isfinite(p)) or p.min() < -1e-6 or p.max() > 1 + 1e-6):
        raise ValueError("probs must be finite probabilities in [0, 1]")
    h: Float | None = None
    if heats is not None and k > 0:
        h = as_finite(heats, "heats", 3)
        if h.shape != imgs.shape:
            raise ValueError(f"heats has shape {h.shape} but images has shape {imgs.shape}")
    heading = title or "Where the network went wrong"

    if k == 0:
        width, height = 6.0, 2.2
        with headed_figure(width, height, heading) as fig:
            fig.text(
                0.5,
                0.4,
                "no misclassified examples in the sample",
                ha="center",
                va="center",
                fontsize=11,
                color=MUTED,
            )
            return save_figure(fig, path)

    cols = min(TOP_LOSSES_COLS, k)
    rows = math.ceil(k / cols)
    size, title_h = 1.35, 0.42
    cell_w, cell_h = 1.7, title_h + size + 0.15
    grid_w = cols * cell_w
    foot_h = 0.65 if h is not None else 0.15
    width = max(grid_w + 2 * MARGIN, 6.0)
    height = HEADER_H + rows * cell_h + foot_h
    left = (width - grid_w) / 2.0 + (cell_w - size) / 2.0
    wrong = int(np.sum(t != pr))
    key = (
        "heat: red = raises the explained class's score, blue = lowers it "
        "(each image on its own scale)"
        if h is not None
        else "probability = what the network gave its (wrong) answer"
    )
    with headed_figure(
        width, height, heading, f"{wrong} of {k} shown are misclassified", key
    ) as fig:
        canvas = inch_canvas(fig, width, height)
        frames: list[Rectangle] = []
        top = height - HEADER_H
        for i in range(k):
            r, c = divmod(i, cols)
            ix = left + c * cell_w
            iy = top - r * cell_h - title_h - size
            extent = (ix, ix + size, iy, iy + size)
            if h is not None:
                overlay(canvas, imgs[i], h[i], DIVERGING, sym_norm(h[i]), True, extent)
            else:
                show_ink(canvas, imgs[i], extent=extent, aspect="auto")
            is_wrong = t[i] != pr[i]
            frames.append(
                Rectangle(
                    (ix, iy),
                    size,
                    size,
                    fill=False,
                    edgecolor=RED if is_wrong else FAINT,
                    linewidth=1.2 if is_wrong else 0.6,
                )
            )
            canvas.text(
                ix + size / 2,
                iy + size + 0.05,
                _loss_title(
                    truncate(names[t[i]], NAME_LIMIT),
                    truncate(names[pr[i]], NAME_LIMIT),
                    float(p[i]),
                ),
                ha="center",
                va="bottom",
                fontsize=8,
                color=RED if is_wrong else INK,
                fontweight="bold" if is_wrong else "normal",
                linespacing=1.1,
            )
        add_patches(canvas, frames)
        if h is not None:
            max_scale_bar(fig, width, height, 0.35, "attribution")
        return save_figure(fig, path)


def draw_confusion_normalised(
    matrix: np.ndarray,
    classes: Sequence[str],
    path: PathLike,
    *,
    title: str = "",
) -> Path:
    """Draw a confusion matrix twice, as counts and as shares of each true class.

    Rows are true classes, columns predictions, the diagonal (outlined in green) the correct
    answers. Left: counts; right: each row as percentages of that true class (its diagonal is
    the class's recall); a row with no examples shows "—". The grids are drawn as
    :func:`threefigures.figures.confusion.draw_confusion` draws its one.

    Args:
        matrix: (n, n) counts.
        classes: The n class names.
        path: Where to write the image.
        title: Heading; the accuracy is shown under it.

    Raises:
        ValueError: If the matrix is not square, does not match the names, or holds negative or
            non-finite values.
    """
    names = [truncate(str(c), 14) for c in classes]
    counts = as_confusion(matrix, len(names))
    n = counts.shape[0]
    row_sums = counts.sum(axis=1, keepdims=True)
    shares = np.full_like(counts, np.nan)
    np.divide(counts * 100.0, row_sums, out=shares, where=row_sums > 0)
    empty_rows = int(np.sum(row_sums[:, 0] == 0))

    tick_fs = 8.5 if n <= 12 else (7 if n <= 25 else 5)
    long_names, left, bottom = matrix_margins(names, tick_fs, 0.7)
    msize = min(max(0.42 * n + 1.0, 3.0), 7.0)
    between = 1.25
    width = left + msize + between + msize + 1.0
    height = HEADER_H + 0.35 + msize + bottom
    annotate = n <= MAX_ANNOTATED_CLASSES
    cell_fs = 8.5 if n <= 10 else (7 if n <= 20 else 5)

    key = "rows: true class · columns: predicted class · diagonal (green outline) = correct"
    if empty_rows:
        key += " · — = no examples of that class"
    heading = title or "Confusion matrix: counts and shares"
    with headed_figure(width, height, heading, accuracy_line(counts), key) as fig:
        panels = [
            ("counts", counts, Normalize(0.0, max(float(counts.max()), 1.0)), "count"),
            ("share of each true class (row %)", shares, Normalize(0.0, 100.0), "% of the row"),
        ]
        for p_i, (panel_title, shown, norm, bar_label) in enumerate(panels):
            x = left + p_i * (msize + between)
            ax = axes_at(fig, width, height, x, bottom, msize, msize)
            draw_matrix(
                ax,
                shown,
                names,
                cmap=cmap_with_bad("Blues"),
                norm=norm,
                tick_fs=tick_fs,
                long_names=long_names,
                row_names=p_i == 0,
            )
            ax.set_title(panel_title, fontsize=9.5)
            diag = [
                Rectangle((i - 0.5, i - 0.5), 1.0, 1.0, fill=False, edgecolor=GREEN, linewidth=1.2)
                for i in range(n)
            ]
            add_patches(ax, diag)
            if annotate:
                vmax = float(norm.vmax) if norm.vmax else 1.0
                if p_i == 0:
                    texts = [[count_text(v) for v in row] for row in counts]
                    values = counts
                else:
                    has = row_sums[:, 0] > 0
                    texts = [
                        [f"{v:.0f}%" if n > 10 else f"{v:.1f}%" for v in row]
                        if has[i]
                        else ["—"] * n
                        for i, row in enumerate(shares)
                    ]
                    values = np.where(row_sums > 0, shares, 0.0)  # an empty row reads as 0
                annotate_cells(ax, texts, values, vmax, cell_fs)
            cax = axes_at(fig, width, height, x + msize + 0.12, bottom, 0.12, msize)
            bar = colorbar(fig, cax, "Blues", norm, bar_label)
            if p_i == 1:
                bar.ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}%"))
        return save_figure(fig, path)
