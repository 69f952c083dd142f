"""Confusion matrix: which true classes the network mistakes for which.

The grid, its labels and its cell texts are drawn by :func:`._layout.draw_matrix` and
:func:`._layout.annotate_cells`, which :func:`threefigures.figures.inside.draw_confusion_normalised`
shares.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.colors import Normalize
from matplotlib.ticker import FuncFormatter

from ._checks import accuracy_line, as_confusion, count_text
from ._layout import MAX_ANNOTATED_CLASSES, annotate_cells, axes_at, draw_matrix, matrix_margins
from ._style import INK, PathLike, figure, save, truncate

#: Tick labels longer than this are shortened with an ellipsis.
NAME_LIMIT = 14


def draw_confusion(
    matrix: np.ndarray,
    class_names: Sequence[str],
    path: PathLike,
    *,
    normalize: bool = False,
    title: str = "Confusion matrix",
    dpi: int = 150,
) -> Path:
    """Draw a confusion matrix as a coloured grid and save it; return the path written.

    Rows are the true classes and columns the predicted ones. Each cell shows its count, or with
    ``normalize=True`` the percentage of its row (what share of each true class went where).
    The overall accuracy, trace / sum of the counts, is written in the title.

    Args:
        matrix: (C, C) counts; ``matrix[i, j]`` is how many items of true class i were predicted
            as class j.
        class_names: The C class names (long names are shortened).
        path: Where to write the image; the format follows the suffix (PNG by default).
        normalize: Show row percentages instead of counts.
        title: Heading; the accuracy is appended to it.
        dpi: Resolution of the written image.

    Raises:
        ValueError: If the matrix is not square, does not match the names, or holds negative or
            non-finite values.
    """
    names = [truncate(str(name), NAME_LIMIT) for name in class_names]
    counts = as_confusion(matrix, len(names))
    n = counts.shape[0]
    accuracy = accuracy_line(counts)

    row_sums = counts.sum(axis=1, keepdims=True)
    if normalize:
        shown = np.divide(counts * 100.0, row_sums, out=np.zeros_like(counts), where=row_sums > 0)
        vmax = 100.0
        bar_label = "share of the true class"
    else:
        shown = counts
        vmax = max(float(counts.max()), 1.0)
        bar_label = "count"

    tick_fs = 9 if n <= 12 else (7 if n <= 25 else 5)
    long_names, left, bottom = matrix_margins(names, tick_fs, 0.75)
    msize = min(max(0.5 * n + 1.2, 3.2), 12.0)  # side of the matrix, in inches
    header = 1.05
    width = max(left + msize + 1.35, 5.5)
    height = bottom + msize + header

    with figure(width, height) as fig:
        ax = axes_at(fig, width, height, left, bottom, msize, msize)
        image = draw_matrix(
            ax,
            shown,
            names,
            cmap="Blues",
            norm=Normalize(0.0, vmax),
            tick_fs=tick_fs,
            long_names=long_names,
        )
        fig.text(0.3 / width, 1 - 0.3 / height, title, fontsize=13, fontweight="bold", va="center")
        fig.text(0.3 / width, 1 - 0.6 / height, accuracy, fontsize=10, color=INK, va="center")

        if n <= MAX_ANNOTATED_CLASSES:
            if normalize:
                texts = [
                    [f"{v:.1f}%" if row_sums[i, 0] > 0 else "–" for v in shown[i]] for i in range(n)
                ]
            else:
                texts = [[count_text(v) for v in row] for row in counts]
            annotate_cells(ax, texts, shown, vmax, 9 if n <= 10 else (7 if n <= 20 else 5))

        cax = axes_at(fig, width, height, left + msize + 0.2, bottom, 0.22, msize)
        bar = fig.colorbar(image, cax=cax)
        bar.set_label(bar_label)
        bar.outline.set_visible(False)
        if normalize:
            bar.ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}%"))
        return save(fig, path, dpi)
