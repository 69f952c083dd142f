"""Confusion matrix: which true classes the network mistakes for which."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
from matplotlib.ticker import FuncFormatter

from ._style import INK, MUTED, PathLike, figure, save, truncate

#: Cells carry their value only up to this many classes (beyond it text is unreadable).
MAX_ANNOTATED_CLASSES = 30
#: Tick labels longer than this are shortened with an ellipsis.
NAME_LIMIT = 14


def _as_matrix(matrix: npt.ArrayLike, n_names: int) -> npt.NDArray[np.float64]:
    arr = np.asarray(matrix, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1] or arr.shape[0] == 0:
        raise ValueError(f"the confusion matrix must be square (C, C); got shape {arr.shape}")
    if arr.shape[0] != n_names:
        raise ValueError(
            f"the confusion matrix is {arr.shape[0]}×{arr.shape[0]} but there are "
            f"{n_names} class names"
        )
    if not np.all(np.isfinite(arr)) or arr.min() < 0:
        raise ValueError("the confusion matrix must hold finite, non-negative counts")
    return arr


def _count(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.3g}"


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
    counts = _as_matrix(matrix, len(names))
    n = counts.shape[0]
    total = float(counts.sum())
    correct = float(np.trace(counts))
    if total > 0:
        accuracy = f"accuracy {correct / total:.1%} ({_count(correct)} of {_count(total)})"
    else:
        accuracy = "accuracy n/a (empty matrix)"

    row_sums = counts.sum(axis=1, keepdims=True)
    if normalize:
        shown = np.divide(counts * 100.0, row_sums, out=np.zeros_like(counts), where=row_sums > 0)
        vmax = 100.0
        bar_label = "share of the true class"
    else:
        shown = counts
        vmax = max(float(counts.max()), 1.0)
        bar_label = "count"

    longest = max((len(name) for name in names), default=1)
    long_names = longest > 3
    tick_fs = 9 if n <= 12 else (7 if n <= 25 else 5)
    char_in = 0.075 * tick_fs / 9.0  # rough width of one tick-label character, in inches
    msize = min(max(0.5 * n + 1.2, 3.2), 12.0)  # side of the matrix, in inches
    left = 0.75 + char_in * longest
    bottom = 0.75 + (0.72 * char_in * longest if long_names else 0.0)
    header = 1.05
    width = max(left + msize + 1.35, 5.5)
    height = bottom + msize + header

    with figure(width, height) as fig:
        ax = fig.add_axes((left / width, bottom / height, msize / width, msize / height))
        image = ax.imshow(shown, cmap="Blues", vmin=0.0, vmax=vmax, interpolation="nearest")
        ax.set_xticks(np.arange(n))
        ax.set_yticks(np.arange(n))
        ax.set_xticklabels(
            names,
            fontsize=tick_fs,
            rotation=45 if long_names else 0,
            ha="right" if long_names else "center",
            rotation_mode="anchor",
        )
        ax.set_yticklabels(names, fontsize=tick_fs)
        ax.set_xlabel("predicted class")
        ax.set_ylabel("true class")
        for spine in ax.spines.values():
            spine.set_visible(True)
            spine.set_color(MUTED)
        ax.tick_params(length=0)
        fig.text(0.3 / width, 1 - 0.3 / height, title, fontsize=13, fontweight="bold", va="center")
        fig.text(0.3 / width, 1 - 0.6 / height, accuracy, fontsize=10, color=INK, va="center")

        if n <= MAX_ANNOTATED_CLASSES:
            cell_fs = 9 if n <= 10 else (7 if n <= 20 else 5)
            for i in range(n):
                for j in range(n):
                    if normalize:
                        text = f"{shown[i, j]:.1f}%" if row_sums[i, 0] > 0 else "–"
                    else:
                        text = _count(counts[i, j])
                    dark = shown[i, j] > 0.55 * vmax
                    ax.text(
                        j,
                        i,
                        text,
                        ha="center",
                        va="center",
                        fontsize=cell_fs,
                        color="white" if dark else INK,
                        fontweight="bold" if i == j else "normal",
                    )

        cax = fig.add_axes(
            ((left + msize + 0.2) / width, bottom / height, 0.22 / width, msize / height)
        )
        bar = fig.colorbar(image, cax=cax)
        bar.set_label(bar_label)
        bar.outline.set_visible(False)
        if normalize:
            bar.ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}%"))
        return save(fig, path, dpi)
