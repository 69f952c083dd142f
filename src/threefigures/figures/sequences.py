"""Figure 3 for sequence models: predictions on unseen texts, and names sampled from a model."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.patches import Rectangle

from ._checks import as_labels, as_names, as_probs, at_least_one, percent, shown_caption
from ._layout import HEADER_H, MARGIN, add_patches, headed_figure
from ._style import BLUE, GREEN, INK, MONO, MUTED, RED, PathLike, inch_canvas, save, truncate

_COLHEAD_H = 0.3
_ROW_H = 0.36
_ROW_H_TOP = 0.42
#: Advance of one DejaVu Sans Mono character, in em.
_MONO_EM = 0.602
_TEXT_FS = 10.0
_TEXT_LIMIT = 24
_PRED_W = 2.0
#: With more classes than this only the top :data:`TOP_K` are drawn per example.
MAX_ALL_CLASSES = 6
TOP_K = 5
_CELL_W_ALL = 1.45
_CELL_W_TOP = 1.4
_PCT_W = 0.38
_TRACK_H = 0.12
_NAME_LIMIT = 14

_TRACK = "#eef2f6"
_OTHER = "#b8c2cc"
_STRIPE = "#f7f9fb"
_WRONG_BAND = "#fdeeee"

#: At most this many generated samples are drawn, in columns of at most :data:`_GEN_ROWS`.
MAX_GENERATED = 60
_GEN_ROWS = 12
_GEN_ROW_H = 0.3
_GEN_FS = 11.0
_GEN_LIMIT = 22


def _mono_width(chars: int, fontsize: float) -> float:
    """Width in inches of ``chars`` monospace characters at ``fontsize`` points."""
    return chars * _MONO_EM * fontsize / 72.0


def _draw_cell(
    ax: Axes,
    patches: list[Rectangle],
    x: float,
    y: float,
    width: float,
    p: float,
    colour: str,
    *,
    name: str | None,
    is_true: bool,
) -> None:
    """One probability as a track filled to ``p``; (x, y) is the track's left end, centre line.

    Without a ``name`` the percent sits right of the track (the column header names the
    class); with one, "name · percent" is written above a full-width track, a single text
    artist per cell, which keeps many-row figures fast.
    """
    pct_colour = colour if colour != _OTHER else MUTED
    if name is None:
        track_w = width - _PCT_W - 0.1
        ty = y - _TRACK_H / 2.0
        ax.text(
            x + track_w + 0.05,
            y,
            percent(p),
            ha="left",
            va="center",
            fontsize=7.5,
            color=pct_colour,
        )
    else:
        track_w = width - 0.22
        ty = y - _TRACK_H / 2.0 - 0.065
        ax.text(
            x,
            ty + _TRACK_H + 0.03,
            f"{name} · {percent(p)}",
            ha="left",
            va="bottom",
            fontsize=7.5,
            color=GREEN if is_true else (pct_colour if colour != _OTHER else INK),
            fontweight="bold" if is_true or colour != _OTHER else "normal",
        )
    patches.append(Rectangle((x, ty), track_w, _TRACK_H, facecolor=_TRACK, edgecolor="none"))
    patches.append(Rectangle((x, ty), track_w * p, _TRACK_H, facecolor=colour, edgecolor="none"))
    if is_true:
        patches.append(
            Rectangle(
                (x - 0.015, ty - 0.015),
                track_w + 0.03,
                _TRACK_H + 0.03,
                fill=False,
                edgecolor=GREEN,
                linewidth=1.0,
            )
        )


def draw_sequence_inference(
    texts: Sequence[str],
    probs: np.ndarray,
    class_names: Sequence[str],
    path: PathLike,
    *,
    labels: np.ndarray | None = None,
    title: str = "Figure 3 — inference on unseen names",
    max_items: int = 16,
    dpi: int = 150,
) -> Path:
    """Draw one row per text with the network's prediction and save it; return the path.

    Each row shows the input text (monospace), the predicted class and its probability, and a
    horizontal probability bar per class: every class when there are at most
    :data:`MAX_ALL_CLASSES` (columns headed by the class names), otherwise the
    :data:`TOP_K` most probable, best first, each named. The predicted bar is blue; with
    ``labels`` the true class's bar is outlined in green, and a wrong prediction is written in
    red with "(true X)" on a pale red row. The caption counts the correct rows.

    Args:
        texts: The N input texts (long ones are shortened).
        probs: (N, C) output probabilities; each row sums to 1.
        class_names: The C class names, in output order.
        path: Where to write the image; the format follows the suffix (PNG by default).
        labels: Optional (N,) true class indices.
        title: Bold heading at the top of the figure.
        max_items: At most this many rows (the first texts) are drawn.
        dpi: Resolution of the written image.

    Raises:
        ValueError: If lengths or shapes disagree, there are no texts or classes, probabilities
            are not probabilities, or labels are not valid class indices.
    """
    at_least_one("max_items", max_items)
    names = as_names(class_names, "class_names")
    n_classes = len(names)
    items = [str(t) for t in texts]
    n_all = len(items)
    if n_all == 0:
        raise ValueError("there are no texts to draw")
    p = as_probs(probs, n_all, n_classes, items="texts")
    truth = None if labels is None else as_labels(labels, n_all, n_classes, items="texts")

    n = min(n_all, max_items)
    items, p = items[:n], p[:n]
    preds = p.argmax(axis=1)
    if truth is not None:
        truth = truth[:n]

    show_all = n_classes <= MAX_ALL_CLASSES
    k = n_classes if show_all else TOP_K
    cell_w = _CELL_W_ALL if show_all else _CELL_W_TOP
    row_h = _ROW_H if show_all else _ROW_H_TOP
    longest = max((len(truncate(t, _TEXT_LIMIT)) for t in items), default=1)
    text_w = max(1.1, _mono_width(max(longest, 5), _TEXT_FS) + 0.3)
    content_w = text_w + _PRED_W + k * cell_w
    width = max(content_w + 2 * MARGIN, 6.5)
    height = HEADER_H + _COLHEAD_H + n * row_h + 0.2
    x_text = MARGIN
    x_pred = x_text + text_w
    x_bars = x_pred + _PRED_W

    caption = shown_caption(n, n_all, None if truth is None else int(np.sum(preds == truth)))
    tail = "" if truth is None else " · green outline = true class"
    if show_all:
        key = "bar = probability of each class · blue = prediction" + tail
    else:
        key = f"the {k} most probable of {n_classes} classes, best first" + tail
    with headed_figure(width, height, title, caption, key, subtitle_size=9.5) as fig:
        ax = inch_canvas(fig, width, height)
        head_y = height - HEADER_H - _COLHEAD_H / 2.0
        head: dict[str, Any] = {"ha": "left", "va": "center", "fontsize": 8.5, "color": MUTED}
        ax.text(x_text, head_y, "input", fontweight="bold", **head)
        ax.text(x_pred, head_y, "prediction", fontweight="bold", **head)
        if show_all:
            for j, name in enumerate(names):
                ax.text(
                    x_bars + j * cell_w,
                    head_y,
                    truncate(name, _NAME_LIMIT),
                    fontweight="bold",
                    **head,
                )
        else:
            ax.text(x_bars, head_y, f"top {k} of {n_classes} classes", fontweight="bold", **head)
        rule_y = height - HEADER_H - _COLHEAD_H
        ax.plot([MARGIN, MARGIN + content_w], [rule_y, rule_y], color=MUTED, linewidth=0.6)

        patches: list[Rectangle] = []
        for i in range(n):
            top = rule_y - i * row_h
            cy = top - row_h / 2.0
            pred = int(preds[i])
            true = None if truth is None else int(truth[i])
            wrong = true is not None and true != pred
            if wrong or i % 2 == 1:
                patches.append(
                    Rectangle(
                        (MARGIN - 0.08, top - row_h),
                        content_w + 0.16,
                        row_h,
                        facecolor=_WRONG_BAND if wrong else _STRIPE,
                        edgecolor="none",
                    )
                )
            text = truncate(items[i], _TEXT_LIMIT)
            ax.text(
                x_text,
                cy,
                text if text else "(empty)",
                ha="left",
                va="center",
                fontsize=_TEXT_FS,
                family=MONO if text else None,
                color=INK if text else MUTED,
                zorder=3,
            )
            pred_text = f"{truncate(names[pred], _NAME_LIMIT)} · {percent(float(p[i, pred]))}"
            if wrong and true is not None:
                ax.text(
                    x_pred,
                    cy + 0.075,
                    pred_text + "  ✗",
                    ha="left",
                    va="center",
                    fontsize=9,
                    fontweight="bold",
                    color=RED,
                    zorder=3,
                )
                ax.text(
                    x_pred,
                    cy - 0.085,
                    f"(true {truncate(names[true], _NAME_LIMIT)})",
                    ha="left",
                    va="center",
                    fontsize=8,
                    color=RED,
                    zorder=3,
                )
            else:
                ax.text(x_pred, cy, pred_text, ha="left", va="center", fontsize=9, zorder=3)

            order = range(n_classes) if show_all else np.argsort(-p[i], kind="stable")[:k]
            for j, c in enumerate(int(c) for c in order):
                colour = (RED if wrong else BLUE) if c == pred else _OTHER
                _draw_cell(
                    ax,
                    patches,
                    x_bars + j * cell_w,
                    cy,
                    cell_w,
                    float(p[i, c]),
                    colour,
                    name=None if show_all else truncate(names[c], _NAME_LIMIT),
                    is_true=c == true,
                )
        add_patches(ax, patches, zorder=1)
        return save(fig, path, dpi)


def draw_generated(
    samples: Sequence[str],
    path: PathLike,
    *,
    title: str = "Names sampled from the model",
    temperature: float,
    prefix: str = "",
    dpi: int = 150,
) -> Path:
    """Draw names generated by a model as a numbered grid and save it; return the path.

    The subtitle gives the sampling temperature, the prefix the model was started from (drawn
    in blue at the start of each name that begins with it) and how many samples are distinct.
    At most :data:`MAX_GENERATED` samples are drawn, in columns of up to 12.

    Args:
        samples: The generated names, in sampling order.
        path: Where to write the image; the format follows the suffix (PNG by default).
        title: Bold heading at the top of the figure.
        temperature: The sampling temperature (> 0).
        prefix: The text the model was primed with ("" for none).
        dpi: Resolution of the written image.

    Raises:
        ValueError: If there are no samples or the temperature is not a positive number.
    """
    items = [str(s) for s in samples]
    if not items:
        raise ValueError("there are no samples to draw")
    if not math.isfinite(temperature) or temperature <= 0:
        raise ValueError(f"temperature must be a positive number, got {temperature!r}")
    n_all = len(items)
    n = min(n_all, MAX_GENERATED)
    shown = items[:n]
    cols = math.ceil(n / _GEN_ROWS)
    rows = math.ceil(n / cols)
    longest = max(len(truncate(s, _GEN_LIMIT)) for s in shown)
    num_w = _mono_width(len(str(n)) + 1, 8.0) + 0.12
    cell_w = max(1.7, num_w + _mono_width(max(longest, 4), _GEN_FS) + 0.4)
    grid_w = cols * cell_w
    width = max(grid_w + 2 * MARGIN, 6.0)
    height = HEADER_H + rows * _GEN_ROW_H + 0.25
    left = MARGIN

    parts = [f"temperature {temperature:g}"]
    parts.append(f"prefix “{prefix}”" if prefix else "no prefix")
    parts.append(f"{n_all} samples, {len(set(items))} distinct")
    if n_all > n:
        parts.append(f"first {n} shown")
    key = (
        "blue = the prefix given to the model; the rest it wrote one character at a time"
        if prefix
        else "each name written by the model one character at a time"
    )
    with headed_figure(
        width, height, title, " · ".join(parts), key, title_size=13, subtitle_size=9.5
    ) as fig:
        ax = inch_canvas(fig, width, height)
        top = height - HEADER_H - 0.05
        for i, sample in enumerate(shown):
            c, r = divmod(i, rows)
            x = left + c * cell_w
            y = top - (r + 0.5) * _GEN_ROW_H
            ax.text(
                x + num_w - 0.08,
                y,
                f"{i + 1}.",
                ha="right",
                va="center",
                fontsize=8,
                color=MUTED,
                family=MONO,
            )
            text = truncate(sample, _GEN_LIMIT)
            x_name = x + num_w
            if not text:
                ax.text(x_name, y, "(empty)", ha="left", va="center", fontsize=9, color=MUTED)
                continue
            head = prefix if prefix and text.startswith(prefix) else ""
            if head:
                ax.text(
                    x_name,
                    y,
                    head,
                    ha="left",
                    va="center",
                    fontsize=_GEN_FS,
                    family=MONO,
                    color=BLUE,
                    fontweight="bold",
                )
            ax.text(
                x_name + _mono_width(len(head), _GEN_FS),
                y,
                text[len(head) :],
                ha="left",
                va="center",
                fontsize=_GEN_FS,
                family=MONO,
                color=INK,
            )
        return save(fig, path, dpi)
