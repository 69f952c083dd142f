"""Augmentation preview: a few training images and randomly augmented copies of each."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
from matplotlib.patches import Rectangle

from ._checks import as_unit_floats
from ._layout import add_patches, show_ink
from ._style import FAINT, INK, MUTED, PathLike, figure, inch_canvas, save, truncate

_IMG = 0.9  # inches per image
_PAD = 0.08  # between images
_LABEL_W = 0.85  # row-label column
_HEADER_H = 0.8
_SEP = 0.14  # extra gap between the originals and the copies
_MARGIN = 0.25
_MIN_WIDTH = 4.0
#: At most this many characters of the ops label are shown.
LABEL_LIMIT = 90


def _as_float(arr: npt.ArrayLike, name: str) -> npt.NDArray[np.float64]:
    """``arr`` as floats in [0, 1]: integer dtypes are taken as such values, not as 0..255."""
    out = np.asarray(arr)
    if out.dtype == np.bool_ or not (
        np.issubdtype(out.dtype, np.floating) or np.issubdtype(out.dtype, np.integer)
    ):
        raise ValueError(f"{name} must be floats in [0, 1]; got dtype {out.dtype}")
    return as_unit_floats(out, name, plural=True)


def draw_augment_preview(
    originals: np.ndarray,
    augmented: np.ndarray,
    path: PathLike,
    *,
    ops_label: str,
    title: str = "Augmentation preview",
    dpi: int = 150,
) -> Path:
    """Draw originals over their augmented copies and save the grid; return the path.

    The first row shows the N original images, each following row one augmented copy of
    every original ("copy 1", "copy 2", …), dark ink on white as in Figure 3, so column j is
    always the same image. The subtitle says which augmentations were applied and how
    strong they are.

    Args:
        originals: (N, H, W) floats in [0, 1].
        augmented: (K, N, H, W) floats in [0, 1]: K augmented copies of each original.
        path: Where to write the image; the format follows the suffix (PNG by default).
        ops_label: The ops and their strengths, e.g. ``"flip p=0.5 · rotate ±15°"``
            (see :meth:`threefigures.data.augment.AugmentConfig.describe`).
        title: Bold heading at the top of the figure.
        dpi: Resolution of the written image.

    Raises:
        ValueError: If the shapes disagree, there is nothing to draw, or values are not
            in [0, 1].
    """
    orig = _as_float(originals, "originals")
    aug = _as_float(augmented, "augmented")
    if orig.ndim != 3:
        raise ValueError(f"originals must have shape (N, H, W); got shape {orig.shape}")
    if aug.ndim != 4 or aug.shape[1:] != orig.shape:
        raise ValueError(
            f"augmented must have shape (K, N, H, W) = (K, {', '.join(map(str, orig.shape))}); "
            f"got shape {aug.shape}"
        )
    n, k = orig.shape[0], aug.shape[0]
    if n == 0 or k == 0 or orig.shape[1] == 0 or orig.shape[2] == 0:
        raise ValueError("there are no images to draw (need N ≥ 1 originals and K ≥ 1 copies)")

    grid_w = n * _IMG + (n - 1) * _PAD
    width = max(_MARGIN + _LABEL_W + grid_w + _MARGIN, _MIN_WIDTH)
    rows_h = (k + 1) * _IMG + k * _PAD + _SEP
    height = _HEADER_H + rows_h + _MARGIN
    left = _MARGIN + _LABEL_W

    with figure(width, height) as fig:
        fig.text(
            _MARGIN / width,
            1 - 0.28 / height,
            title,
            fontsize=12,
            fontweight="bold",
            ha="left",
            va="center",
        )
        fig.text(
            _MARGIN / width,
            1 - 0.56 / height,
            truncate(
                f"{ops_label} · {k} random cop{'y' if k == 1 else 'ies'} per image", LABEL_LIMIT
            ),
            fontsize=8.5,
            color=MUTED,
            ha="left",
            va="center",
        )

        # One canvas in inch coordinates for every image, as Figure 3 does.
        canvas = inch_canvas(fig, width, height)
        frames: list[Rectangle] = []
        rows = [("original", orig)] + [(f"copy {r + 1}", aug[r]) for r in range(k)]
        top = height - _HEADER_H
        for r, (label, images) in enumerate(rows):
            iy = top - _IMG
            canvas.text(
                left - 0.12,
                iy + _IMG / 2.0,
                label,
                ha="right",
                va="center",
                fontsize=8.5,
                color=INK,
                fontweight="bold" if r == 0 else "normal",
            )
            for j in range(n):
                ix = left + j * (_IMG + _PAD)
                extent = (ix, ix + _IMG, iy, iy + _IMG)
                show_ink(canvas, images[j], extent=extent, origin="upper", aspect="auto", zorder=1)
                frames.append(
                    Rectangle((ix, iy), _IMG, _IMG, fill=False, edgecolor=FAINT, linewidth=0.6)
                )
            top = iy - _PAD
            if r == 0:
                sep_y = top - _SEP / 2.0 + _PAD / 2.0
                canvas.plot(
                    (left, left + grid_w), (sep_y, sep_y), color=MUTED, linewidth=0.6, zorder=2
                )
                top -= _SEP
        add_patches(canvas, frames, zorder=3)
        return save(fig, path, dpi)
