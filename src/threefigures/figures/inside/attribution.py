"""Attribution: which pixels of one image, or which characters of texts, drove a prediction."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib import colormaps
from matplotlib.colors import Normalize
from matplotlib.patches import Rectangle
from matplotlib.ticker import FuncFormatter

from .._checks import Float, as_finite, as_image, as_top, percent
from .._layout import HEADER_H, MARGIN, add_patches, axes_at, headed_figure, show_ink
from .._style import BLUE, FAINT, GREEN, INK, MONO, MUTED, RED, PathLike, inch_canvas, truncate
from ._common import (
    DIVERGING,
    HEAT_SEQUENTIAL,
    NAME_LIMIT,
    clean,
    colorbar,
    overlay,
    save_figure,
    sym,
    sym_norm,
)

#: At most this many classes are listed in :func:`draw_attribution`'s bar chart.
TOP_CLASSES = 5
#: At most this many rows are drawn by :func:`draw_sequence_attribution`.
MAX_SEQUENCE_ROWS = 16
#: Texts longer than this are cut in :func:`draw_sequence_attribution`.
MAX_SEQUENCE_CHARS = 40


def draw_attribution(
    image: np.ndarray,
    heat: np.ndarray,
    top: Sequence[tuple[str, float]],
    path: PathLike,
    *,
    method: str,
    title: str = "",
    true_label: str | None = None,
    note: str = "",
) -> Path:
    """Draw the input, its attribution map and the top classes side by side; return the path.

    Left: the input as the network saw it (dark ink on white). Middle: the attribution ``heat``
    over a faded copy of the input; signed maps use a diverging colour scale symmetric around 0
    (red raises the explained class's score, blue lowers it), maps that are all ≥ 0 (saliency,
    Grad-CAM) a sequential one. Right: the most probable classes as bars, the prediction
    highlighted; with ``true_label`` it is green when right and red when wrong.

    Args:
        image: (H, W) pixels, floats in [0, 1] (1 = ink) or uint8 0..255.
        heat: (H, W) attribution per pixel, finite.
        top: (class name, probability) pairs, most probable first; the first 5 are drawn.
        path: Where to write the image (PNG unless the suffix says otherwise).
        method: The attribution method's name, shown over the heat map.
        title: Heading; a default one is used when empty.
        true_label: The true class name, if known.
        note: A muted line under the heading (e.g. integrated gradients' completeness error).

    Raises:
        ValueError: On shapes that disagree, non-finite values, pixels outside [0, 1],
            probabilities outside [0, 1] or an empty ``top`` or ``method``.
    """
    img = as_image(image, "image")
    h = as_finite(heat, "heat", 2)
    if h.shape != img.shape:
        raise ValueError(f"heat has shape {h.shape} but image has shape {img.shape}; must match")
    pairs = as_top(top, "top")[:TOP_CLASSES]
    method_name = str(method).strip()
    if not method_name:
        raise ValueError("method must name the attribution method (e.g. 'integrated-gradients')")
    true = None if true_label is None else str(true_label)

    signed = bool(h.min() < 0)
    if signed:
        cmap, norm = DIVERGING, sym_norm(h)
        key = "red = raises the explained class's score · blue = lowers it · white = no effect"
    else:
        top_value = float(h.max())
        cmap, norm = HEAT_SEQUENTIAL, Normalize(0.0, top_value if top_value > 0 else 1.0)
        key = "brighter = more influence (this method gives magnitudes, not directions)"

    pred_name, pred_p = pairs[0]
    if true is None:
        pred_colour, verdict = BLUE, ""
    elif pred_name == true:
        pred_colour, verdict = GREEN, f"true class: {true} ✓"
    else:
        pred_colour, verdict = RED, f"true class: {true} ✗"
    subtitle = f"prediction: {pred_name} ({percent(pred_p)})"
    if verdict:
        subtitle += f" · {verdict}"
    if note:
        key = f"{note} · {key}"

    side = 2.8
    width, height = 10.2, HEADER_H + 0.4 + side + 0.4
    y0 = 0.4
    with headed_figure(width, height, title or "What the network looked at", subtitle, key) as fig:
        rows, cols = img.shape

        ax_in = axes_at(fig, width, height, 0.35, y0, side, side)
        show_ink(ax_in, img)
        ax_in.set_title(f"input ({rows}×{cols} pixels)", fontsize=9.5)
        clean(ax_in)

        ax_heat = axes_at(fig, width, height, 3.45, y0, side, side)
        overlay(ax_heat, img, h, cmap, norm, signed)
        ax_heat.set_title(f"{method_name} attribution", fontsize=9.5)
        clean(ax_heat)
        cax = axes_at(fig, width, height, 6.33, y0 + 0.2, 0.12, side - 0.4)
        colorbar(fig, cax, cmap, norm, "attribution (signed)" if signed else "attribution")

        # Bars: the prediction first, at the top.
        bar_x = 7.9
        ax_bar = axes_at(fig, width, height, bar_x, y0 + 0.35, width - bar_x - 0.55, side - 0.7)
        k = len(pairs)
        ys = np.arange(k)
        colours = [pred_colour] + [FAINT] * (k - 1)
        edges = ["none"] * k
        for j, (cls, _p) in enumerate(pairs):
            if j > 0 and true is not None and cls == true:
                edges[j] = GREEN
        ax_bar.barh(
            ys,
            [p for _c, p in pairs],
            height=0.62,
            color=colours,
            edgecolor=edges,
            linewidth=1.2,
        )
        ax_bar.set_yticks(ys)
        ax_bar.set_yticklabels([truncate(c, NAME_LIMIT) for c, _p in pairs], fontsize=8.5)
        for j, label in enumerate(ax_bar.get_yticklabels()):
            if true is not None and pairs[j][0] == true:
                label.set_color(GREEN)
                label.set_fontweight("bold")
        for j, (_c, p) in enumerate(pairs):
            ax_bar.text(
                p + 0.03,
                j,
                percent(p),
                va="center",
                ha="left",
                fontsize=8,
                color=pred_colour if j == 0 else INK,
                fontweight="bold" if j == 0 else "normal",
            )
        ax_bar.set_ylim(TOP_CLASSES - 0.5, -0.5)  # the same bar thickness for any k
        ax_bar.set_xlim(0.0, 1.25)
        ax_bar.set_xticks([0.0, 0.5, 1.0])
        ax_bar.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v * 100:.0f}%"))
        ax_bar.set_xlabel("probability")
        ax_bar.tick_params(axis="y", length=0)
        bar_title = f"top {k} classes"
        if true is not None and true not in [c for c, _p in pairs]:
            bar_title += f"\n(true {truncate(true, NAME_LIMIT)} not among them)"
        ax_bar.set_title(bar_title, fontsize=9.5, color=INK)
        return save_figure(fig, path)


def draw_sequence_attribution(
    items: Sequence[Mapping[str, Any]],
    path: PathLike,
    *,
    method: str,
    title: str = "",
) -> Path:
    """Draw one row per text, each character shaded by its attribution; return the path.

    Every character sits in a box coloured by its score on one diverging scale shared by all
    rows (red raises the explained class's score, blue lowers it), followed by the top
    prediction and its probability; with a true class the prediction is green when right and
    red ("true X") when wrong. At most :data:`MAX_SEQUENCE_ROWS` rows and
    :data:`MAX_SEQUENCE_CHARS` characters per row are drawn.

    Args:
        items: dicts with ``"text"`` (str), ``"scores"`` (one float per character),
            ``"top"`` ([(class, probability), …], most probable first) and optionally
            ``"true"`` (the true class name or None).
        path: Where to write the image.
        method: The attribution method's name.
        title: Heading; a default one is used when empty.

    Raises:
        ValueError: If there are no items, a text is empty, the scores do not match the text's
            length or are not finite, or ``top`` is not a list of probabilities.
    """
    method_name = str(method).strip()
    if not method_name:
        raise ValueError("method must name the attribution method (e.g. 'saliency')")
    rows: list[tuple[str, Float, list[tuple[str, float]], str | None]] = []
    for i, item in enumerate(items):
        if not isinstance(item, Mapping):
            raise ValueError(f"items[{i}] must be a dict with 'text', 'scores' and 'top'")
        missing = [key for key in ("text", "scores", "top") if key not in item]
        if missing:
            raise ValueError(f"items[{i}] lacks {', '.join(repr(m) for m in missing)}")
        text = str(item["text"])
        if not text:
            raise ValueError(f"items[{i}]['text'] is empty")
        scores = as_finite(item["scores"], f"items[{i}]['scores']", 1)
        if scores.shape[0] != len(text):
            raise ValueError(
                f"items[{i}]['scores'] has {scores.shape[0]} values but the text {text!r} has "
                f"{len(text)} characters; give one score per character"
            )
        true = item.get("true")
        pairs = as_top(item["top"], f"items[{i}]['top']")
        rows.append((text, scores, pairs, None if true is None else str(true)))
    if not rows:
        raise ValueError("items is empty: there is nothing to draw")
    n_all = len(rows)
    rows = rows[:MAX_SEQUENCE_ROWS]
    n = len(rows)

    lim = max(sym(s[:MAX_SEQUENCE_CHARS]) for _t, s, _p, _tr in rows)
    norm = Normalize(-lim, lim)
    cmap = colormaps[DIVERGING]
    longest = min(max(len(t) for t, _s, _p, _tr in rows), MAX_SEQUENCE_CHARS)
    box_w, box_h, row_h = 0.21, 0.27, 0.4
    text_w = max(longest * box_w + 0.35, 1.5)
    pred_w = 3.0
    width = max(2 * MARGIN + text_w + pred_w, 6.0)
    colhead_h = 0.3
    foot_h = 0.8
    height = HEADER_H + colhead_h + n * row_h + foot_h
    x_text = MARGIN
    x_pred = x_text + text_w

    labelled = [tr for _t, _s, _p, tr in rows if tr is not None]
    more = f" (first {n} of {n_all})" if n_all > n else ""
    if labelled:
        right = sum(1 for _t, _s, p, tr in rows if tr is not None and p[0][0] == tr)
        subtitle = f"{right} correct of {len(labelled)} with a known class{more}"
    else:
        subtitle = f"{n} texts{more}"
    with headed_figure(
        width,
        height,
        title or f"Which characters mattered ({method_name})",
        subtitle,
        "each box is one character · red = raises the explained class's score, "
        "blue = lowers it · one scale for all rows",
    ) as fig:
        canvas = inch_canvas(fig, width, height)
        head_y = height - HEADER_H - colhead_h / 2.0
        canvas.text(
            x_text,
            head_y,
            f"text · {method_name}",
            fontsize=8.5,
            color=MUTED,
            fontweight="bold",
            va="center",
        )
        canvas.text(
            x_pred, head_y, "prediction", fontsize=8.5, color=MUTED, fontweight="bold", va="center"
        )
        rule_y = height - HEADER_H - colhead_h
        canvas.plot([MARGIN, width - MARGIN], [rule_y, rule_y], color=MUTED, linewidth=0.6)

        frames: list[Rectangle] = []
        for i, (text, scores, pairs, true) in enumerate(rows):
            cy = rule_y - (i + 0.5) * row_h
            shown = text[:MAX_SEQUENCE_CHARS]
            s = scores[: len(shown)]
            canvas.imshow(
                s.reshape(1, -1),
                cmap=cmap,
                norm=norm,
                interpolation="nearest",
                extent=(x_text, x_text + len(shown) * box_w, cy - box_h / 2, cy + box_h / 2),
                aspect="auto",
            )
            rgba = cmap(norm(s))
            for j, ch in enumerate(shown):
                frames.append(
                    Rectangle(
                        (x_text + j * box_w, cy - box_h / 2),
                        box_w,
                        box_h,
                        fill=False,
                        edgecolor=FAINT,
                        linewidth=0.5,
                    )
                )
                light = 0.299 * rgba[j, 0] + 0.587 * rgba[j, 1] + 0.114 * rgba[j, 2]
                canvas.text(
                    x_text + (j + 0.5) * box_w,
                    cy,
                    ch,
                    ha="center",
                    va="center",
                    fontsize=10,
                    family=MONO,
                    color="white" if light < 0.5 else INK,
                )
            if len(text) > len(shown):
                canvas.text(x_text + len(shown) * box_w + 0.05, cy, "…", va="center", color=MUTED)
            name, p = pairs[0]
            label = f"{truncate(name, 16)} · {percent(p)}"
            colour = INK
            if true is not None and true == name:
                label, colour = label + " ✓", GREEN
            elif true is not None:
                label, colour = f"{label} (true {truncate(true, 14)}) ✗", RED
            canvas.text(x_pred, cy, label, va="center", fontsize=9, color=colour, fontweight="bold")
        add_patches(canvas, frames)

        bar_w = min(3.0, width - 2 * MARGIN)
        cax = axes_at(fig, width, height, MARGIN, 0.45, bar_w, 0.1)
        colorbar(fig, cax, cmap, norm, "attribution per character (0 = white)", horizontal=True)
        return save_figure(fig, path)
