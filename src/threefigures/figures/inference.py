"""Figure 3: unseen images, what the network predicts for each, and its output probabilities."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
from matplotlib.axes import Axes
from matplotlib.patches import Rectangle

from ._checks import (
    as_labels,
    as_names,
    as_probs,
    as_unit_pixels,
    at_least_one,
    percent,
    shown_caption,
)
from ._layout import HEADER_H, MARGIN, add_patches, headed_figure, show_ink
from ._style import BLUE, FAINT, GREEN, INK, MUTED, RED, PathLike, inch_canvas, save, truncate

_COLS = 6
_CELL_W = 1.65
_IMG = 1.15
_TITLE_H = 0.42
_GAP = 0.07
_BAR_H = 0.45
_TICKS_H = 0.2
_ROW_GAP = 0.12
_CELL_H = _TITLE_H + _IMG + _GAP + _BAR_H + _TICKS_H + _ROW_GAP
_MIN_WIDTH = 4.6

#: Class names longer than this are cut (with an ellipsis) in item titles.
NAME_LIMIT = 12
#: A wrong-prediction title longer than this is split over two lines.
_ONE_LINE_LIMIT = 20


def _as_images(images: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Return images as float (N, H, W) in [0, 1], accepting uint8 0..255 or floats in [0, 1]."""
    arr = np.asarray(images)
    if arr.ndim == 4 and arr.shape[1] == 1:
        arr = arr[:, 0]
    elif arr.ndim == 4 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim != 3:
        raise ValueError(
            f"images must have shape (N, H, W) (e.g. (N, 28, 28)); got shape {arr.shape}"
        )
    return as_unit_pixels(arr, "images")


def _title(pred_name: str, conf: float, true_name: str | None) -> tuple[str, str]:
    """Return (title text, colour) for one item."""
    if true_name is None or true_name == pred_name:
        return f"{pred_name} · {percent(conf)}", INK
    text = f"pred {pred_name} (true {true_name}) ✗"
    if len(text) > _ONE_LINE_LIMIT:
        text = f"pred {pred_name} ✗\n(true {true_name})"
    return text, RED


def _draw_item(
    ax: Axes,
    x0: float,
    top: float,
    image: npt.NDArray[np.float64],
    row: npt.NDArray[np.float64],
    title: tuple[str, str],
    pred: int,
    true: int | None,
    patches: list[Rectangle],
) -> None:
    """Draw one item on the inch-coordinate canvas ``ax``, its cell's top-left at (x0, top).

    Rectangles (bars, frames) are appended to ``patches`` and added in one collection later,
    which is much faster than adding hundreds of single patches.
    """
    wrong = true is not None and true != pred
    ix = x0 + (_CELL_W - _IMG) / 2.0
    iy = top - _TITLE_H - _IMG
    show_ink(
        ax, image, extent=(ix, ix + _IMG, iy, iy + _IMG), origin="upper", aspect="auto", zorder=1
    )
    patches.append(
        Rectangle(
            (ix, iy),
            _IMG,
            _IMG,
            fill=False,
            edgecolor=RED if wrong else FAINT,
            linewidth=1.4 if wrong else 0.6,
        )
    )
    text, colour = title
    ax.text(
        ix + _IMG / 2.0,
        iy + _IMG + 0.05,
        text,
        ha="center",
        va="bottom",
        fontsize=8,
        color=colour,
        fontweight="bold" if wrong else "normal",
        linespacing=1.1,
    )

    # Bar chart of the C probabilities, directly beneath the image.
    n_classes = row.shape[0]
    by = iy - _GAP - _BAR_H
    slot = _IMG / n_classes
    xs = ix + slot * (np.arange(n_classes) + 0.5)
    scale = _BAR_H  # probability 1 fills the band
    colours = [FAINT] * n_classes
    colours[pred] = RED if wrong else BLUE
    for k in range(n_classes):
        patches.append(
            Rectangle(
                (xs[k] - slot * 0.375, by),
                slot * 0.75,
                float(row[k]) * scale,
                facecolor=colours[k],
                edgecolor="none",
                linewidth=0,
            )
        )
    patches.append(Rectangle((ix, by), _IMG, 0.0, fill=False, edgecolor=MUTED, linewidth=0.6))
    if true is not None:
        # Outline the whole slot, so the true class shows even when its probability is ~0.
        patches.append(
            Rectangle(
                (xs[true] - slot * 0.45, by),
                slot * 0.9,
                scale,
                fill=False,
                edgecolor=GREEN,
                linewidth=1.0,
            )
        )
    ticks = range(n_classes) if n_classes <= 10 else (0, n_classes - 1)
    for k in ticks:
        is_true = k == true
        ax.text(
            xs[k],
            by - 0.03,
            str(k),
            ha="center",
            va="top",
            fontsize=6.5,
            color=GREEN if is_true else INK,
            fontweight="bold" if is_true else "normal",
        )
    if wrong:
        frame_bottom = by - _TICKS_H + 0.02
        patches.append(
            Rectangle(
                (x0 + 0.04, frame_bottom),
                _CELL_W - 0.08,
                top - 0.02 - frame_bottom,
                fill=False,
                edgecolor=RED,
                linewidth=1.6,
            )
        )


def draw_inference(
    images: np.ndarray,
    probs: np.ndarray,
    class_names: Sequence[str],
    path: PathLike,
    *,
    labels: np.ndarray | None = None,
    title: str = "Figure 3 — inference on unseen digits",
    max_items: int = 24,
    dpi: int = 150,
) -> Path:
    """Draw a grid of images with the network's predictions and save it; return the path.

    Each item shows the image (dark ink on white) titled with the predicted class and its
    probability ("7 · 98%"), and beneath it a bar chart of all C output probabilities: the
    predicted bar is highlighted and, when ``labels`` are given, the true class's slot is outlined
    in green. Wrong predictions get a red title "pred 3 (true 8) ✗" and a red frame. The line
    under the title counts how many of the shown items are correct.

    Args:
        images: (N, H, W) images, floats in [0, 1] or uint8 0..255 (a singleton channel axis,
            (N, 1, H, W) or (N, H, W, 1), is accepted too).
        probs: (N, C) output probabilities; each row sums to 1.
        class_names: The C class names, in output order (long names are shortened in titles).
        path: Where to write the image; the format follows the suffix (PNG by default).
        labels: Optional (N,) true class indices.
        title: Bold heading at the top of the figure.
        max_items: At most this many items (the first ones) are drawn.
        dpi: Resolution of the written image.

    Raises:
        ValueError: If shapes disagree, there are no images, probabilities are not
            probabilities, images are out of range, or labels are not valid class indices.
    """
    at_least_one("max_items", max_items)
    names = as_names(class_names, "class_names")
    n_classes = len(names)
    imgs = _as_images(images)
    n_all = imgs.shape[0]
    if n_all == 0:
        raise ValueError("there are no images to draw")
    p = as_probs(probs, n_all, n_classes)
    truth = None if labels is None else as_labels(labels, n_all, n_classes)

    n = min(n_all, max_items)
    imgs, p = imgs[:n], p[:n]
    preds = p.argmax(axis=1)
    if truth is not None:
        truth = truth[:n]

    cols = min(_COLS, n)
    rows = math.ceil(n / cols)
    grid_w = cols * _CELL_W
    width = max(grid_w + 2 * MARGIN, _MIN_WIDTH)
    height = HEADER_H + rows * _CELL_H + 0.1
    left = (width - grid_w) / 2.0

    caption = shown_caption(n, n_all, None if truth is None else int(np.sum(preds == truth)))
    key = "filled bar = prediction" + ("" if truth is None else " · green box = true class")
    with headed_figure(width, height, title, caption, key, subtitle_size=9.5) as fig:
        # One canvas in inch coordinates for all items: far faster than two axes per item.
        canvas = inch_canvas(fig, width, height)
        patches: list[Rectangle] = []
        for i in range(n):
            r, c = divmod(i, cols)
            pred = int(preds[i])
            true = None if truth is None else int(truth[i])
            title_text = _title(
                truncate(names[pred], NAME_LIMIT),
                float(p[i, pred]),
                None if true is None else truncate(names[true], NAME_LIMIT),
            )
            _draw_item(
                canvas,
                left + c * _CELL_W,
                height - HEADER_H - r * _CELL_H,
                imgs[i],
                p[i],
                title_text,
                pred,
                true,
                patches,
            )
        add_patches(canvas, patches, zorder=3)
        return save(fig, path, dpi)
