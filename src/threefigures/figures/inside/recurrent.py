"""Recurrent layers: gates and states step by step, and where attention puts its weight."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.colors import Normalize
from matplotlib.patches import Rectangle
from matplotlib.ticker import FuncFormatter, MaxNLocator

from .._checks import Float, as_finite, as_image, as_named_arrays, percent
from .._layout import HEADER_H, MARGIN, add_patches, axes_at, frame, headed_figure, show_ink
from .._style import BLUE, FAINT, INK, MONO, MUTED, ORANGE, PathLike, inch_canvas, truncate
from ._common import DIVERGING, SEQUENTIAL, clean, colorbar, save_figure, sym_norm

#: Step labels are thinned to every k-th when a sequence has more steps than this.
MAX_STEP_LABELS = 30

#: Panels whose name contains one of these hold signed values (diverging scale).
_SIGNED_PANELS = ("hidden", "cell", "candidate")


def draw_gates(
    steps: Sequence[str],
    panels: Sequence[tuple[str, np.ndarray]],
    path: PathLike,
    *,
    title: str = "",
) -> Path:
    """Draw a recurrent layer's gates and states over time, one heat map each; return the path.

    Each panel is units × time steps, stacked vertically on a shared time axis. Gates use a
    fixed 0–1 sequential scale (0 = closed, 1 = open); panels whose name contains "hidden",
    "cell" or "candidate", and any panel with values outside [0, 1], use a diverging scale
    symmetric around 0. When there are more than :data:`MAX_STEP_LABELS` steps only every k-th
    step is labelled.

    Args:
        steps: A label per time step (the characters of a name, or "row 0" … "row 27").
        panels: (name, (units, T) values) per panel, e.g. ("forget gate", …).
        path: Where to write the image.
        title: Heading; a default one is used when empty.

    Raises:
        ValueError: If ``steps`` or ``panels`` is empty, or a panel is not a finite
            (units, len(steps)) array.
    """
    labels = [str(s) for s in steps]
    n_steps = len(labels)
    if n_steps == 0:
        raise ValueError("steps is empty: give one label per time step")
    named = as_named_arrays(panels, "panels", 2)
    for i, (name, values) in enumerate(named):
        if values.shape[1] != n_steps:
            raise ValueError(
                f"panels[{i}] ({name!r}) has shape {values.shape} but there are {n_steps} steps; "
                "each panel must be (units, steps)"
            )

    heat_w = min(max(n_steps * 0.24, 4.5), 8.0)
    left, right = 0.85, 1.3
    width = left + heat_w + right
    heights = [min(max(v.shape[0] * 0.02, 0.8), 1.5) for _n, v in named]
    title_h, gap, axis_h = 0.28, 0.12, 0.55
    height = HEADER_H + sum(h + title_h + gap for h in heights) + axis_h
    every = 1 if n_steps <= MAX_STEP_LABELS else math.ceil(n_steps / 20)

    with headed_figure(
        width,
        height,
        title or "Inside the recurrent layer, step by step",
        f"{n_steps} time steps, left to right · each row of a panel is one unit",
        "gates: 0 = closed, 1 = open · states: red > 0, blue < 0, white = 0",
    ) as fig:
        top = height - HEADER_H
        axes: list[Axes] = []
        for (name, values), h in zip(named, heights, strict=True):
            lower = name.lower()
            in_unit = float(values.min()) >= 0.0 and float(values.max()) <= 1.0
            if any(word in lower for word in _SIGNED_PANELS) or not in_unit:
                cmap, norm, bar_label = DIVERGING, sym_norm(values), "value"
                kind = "signed"
            else:
                cmap, norm, bar_label = SEQUENTIAL, Normalize(0.0, 1.0), "gate (0–1)"
                kind = "0–1"
            y = top - title_h - h
            # The same extent in every panel lines the steps up; only the last one is labelled
            # (no sharex: shared tick objects would be built, and drawn, for every panel).
            ax = axes_at(fig, width, height, left, y, heat_w, h)
            axes.append(ax)
            ax.imshow(
                values,
                cmap=cmap,
                norm=norm,
                aspect="auto",
                interpolation="nearest",
                extent=(-0.5, n_steps - 0.5, values.shape[0] - 0.5, -0.5),
            )
            ax.set_title(
                f"{name} · {values.shape[0]} units · {kind}", fontsize=9, loc="left", pad=3
            )
            ax.set_ylabel("unit", fontsize=8)
            ax.yaxis.set_major_locator(MaxNLocator(4, integer=True))
            ax.tick_params(axis="y", labelsize=7, length=2)
            ax.tick_params(axis="x", length=2)
            ax.set_xticks([])
            frame(ax, FAINT)
            cax = axes_at(fig, width, height, left + heat_w + 0.12, y, 0.1, h)
            colorbar(fig, cax, cmap, norm, bar_label, fontsize=7)
            top = y - gap
        last = axes[-1]
        ticks = list(range(0, n_steps, every))
        last.set_xticks(ticks)
        last.set_xticklabels(
            [labels[t] for t in ticks],
            fontsize=8 if n_steps <= MAX_STEP_LABELS else 7,
            family=MONO if all(len(s) == 1 for s in labels) else None,
            rotation=0 if max(len(labels[t]) for t in ticks) <= 2 else 90,
        )
        last.set_xlabel("time step" + (f" (a label every {every} steps)" if every > 1 else ""))
        return save_figure(fig, path)


def _attention_weights(weights: np.ndarray) -> Float:
    """``weights`` as a finite, non-negative (T,) array summing to 1 (softmax output)."""
    w = as_finite(weights, "weights", 1)
    if float(w.min()) < -1e-6:
        raise ValueError(f"weights must be non-negative; the smallest is {float(w.min()):.3g}")
    total = float(w.sum())
    if not np.isclose(total, 1.0, atol=2e-2):
        raise ValueError(f"weights must sum to 1 (softmax output); they sum to {total:.4g}")
    return np.clip(w, 0.0, None)


def draw_attention(
    weights: np.ndarray,
    path: PathLike,
    *,
    tokens: Sequence[str] | None = None,
    image: np.ndarray | None = None,
    title: str = "",
    prediction: str = "",
) -> Path:
    """Draw how an attention layer spreads its weight over the steps of one input.

    With ``tokens`` (the characters of a name) each character gets a bar of its weight above it
    and a background shaded by it; with ``image`` (one step per image row) the image is drawn
    with a horizontal bar per row beside it, aligned to the rows.

    Args:
        weights: (T,) non-negative attention weights summing to 1.
        path: Where to write the image.
        tokens: T labels, one per step (give this or ``image``).
        image: (H, W) input with H == T (give this or ``tokens``).
        title: Heading; a default one is used when empty.
        prediction: The network's answer, shown under the heading.

    Raises:
        ValueError: If neither or both of ``tokens`` and ``image`` are given, lengths differ, or
            the weights are negative, non-finite or do not sum to 1.
    """
    if (tokens is None) == (image is None):
        raise ValueError("give exactly one of tokens (a sequence) or image (one step per row)")
    w = _attention_weights(weights)
    subtitle = f"prediction: {prediction}" if prediction else ""
    if tokens is not None:
        return _token_attention(w, [str(t) for t in tokens], path, title, subtitle)
    return _row_attention(w, as_image(image, "image"), path, title, subtitle)


def _token_attention(w: Float, toks: list[str], path: PathLike, title: str, subtitle: str) -> Path:
    """:func:`draw_attention` over a sequence of tokens: a bar and a shaded box per token."""
    n = w.shape[0]
    peak = int(np.argmax(w))
    if len(toks) != n:
        raise ValueError(f"tokens has {len(toks)} entries but weights has {n}")
    box_w = min(0.45, max(0.22, 9.0 / n))
    width = max(2 * MARGIN + n * box_w, 6.0)
    bar_max, label_h, tok_h = 1.3, 0.25, 0.36
    height = HEADER_H + label_h + bar_max + 0.1 + tok_h + 0.55
    x0 = (width - n * box_w) / 2.0
    wmax = float(w.max()) if float(w.max()) > 0 else 1.0
    cmap = colormaps["Blues"]
    show_pct = set(range(n)) if n <= 20 else set(np.argsort(w)[-5:].tolist())
    with headed_figure(
        width,
        height,
        title or "Where the network attends",
        subtitle or f"{n} steps",
        "bar height and shade = attention weight (all bars sum to 100%)",
    ) as fig:
        canvas = inch_canvas(fig, width, height)
        base = 0.55 + tok_h + 0.1
        patches: list[Rectangle] = []
        for j, (tok, wt) in enumerate(zip(toks, w, strict=True)):
            x = x0 + j * box_w
            bh = bar_max * float(wt) / wmax
            patches.append(
                Rectangle(
                    (x + box_w * 0.15, base),
                    box_w * 0.7,
                    bh,
                    facecolor=ORANGE if j == peak else BLUE,
                    edgecolor="none",
                )
            )
            if j in show_pct:
                canvas.text(
                    x + box_w / 2,
                    base + bh + 0.04,
                    percent(float(wt)),
                    ha="center",
                    va="bottom",
                    fontsize=6.5 if n > 12 else 7.5,
                )
            shade = cmap(0.85 * float(wt) / wmax)
            patches.append(
                Rectangle(
                    (x + 0.01, 0.55),
                    box_w - 0.02,
                    tok_h,
                    facecolor=shade,
                    edgecolor=FAINT,
                    linewidth=0.5,
                )
            )
            light = 0.299 * shade[0] + 0.587 * shade[1] + 0.114 * shade[2]
            canvas.text(
                x + box_w / 2,
                0.55 + tok_h / 2,
                truncate(tok, 3) if tok.strip() else "␣",
                ha="center",
                va="center",
                fontsize=11 if box_w > 0.3 else 9,
                family=MONO,
                color="white" if light < 0.5 else INK,
                fontweight="bold" if j == peak else "normal",
            )
        add_patches(canvas, patches)
        canvas.plot([x0, x0 + n * box_w], [base, base], color=MUTED, linewidth=0.6)
        canvas.text(
            x0,
            0.3,
            f"step 1 … {n}, left to right · orange = most attended",
            fontsize=7.5,
            color=MUTED,
            va="center",
        )
        return save_figure(fig, path)


def _row_attention(w: Float, img: Float, path: PathLike, title: str, subtitle: str) -> Path:
    """:func:`draw_attention` over an image read row by row: a bar beside each row."""
    n = w.shape[0]
    peak = int(np.argmax(w))
    if img.shape[0] != n:
        raise ValueError(
            f"image has {img.shape[0]} rows but weights has {n} entries; give one weight per row"
        )
    side = 3.4
    img_w = side * img.shape[1] / img.shape[0]
    bar_w = 2.4
    width = max(2 * MARGIN + img_w + 0.7 + bar_w + 0.6, 6.0)
    height = HEADER_H + 0.35 + side + 0.65
    with headed_figure(
        width,
        height,
        title or "Which rows the network attends to",
        subtitle or f"{n} rows, read top to bottom",
        "bar = attention weight of the image row beside it (all bars sum to 100%)",
    ) as fig:
        y0 = 0.6
        ax_img = axes_at(fig, width, height, MARGIN + 0.35, y0, img_w, side)
        show_ink(ax_img, img, aspect="auto")
        clean(ax_img)
        every = max(1, math.ceil(n / 14))
        ax_img.set_yticks(range(0, n, every))
        ax_img.set_yticklabels([str(r) for r in range(0, n, every)], fontsize=6.5)
        ax_img.tick_params(axis="y", length=2)
        ax_img.set_ylabel("row", fontsize=8)
        ax_img.set_title("input", fontsize=9)
        ax_bar = axes_at(fig, width, height, MARGIN + 0.35 + img_w + 0.15, y0, bar_w, side)
        colours = [ORANGE if r == peak else BLUE for r in range(n)]
        ax_bar.barh(np.arange(n), w, height=0.8, color=colours)
        ax_bar.set_ylim(n - 0.5, -0.5)
        ax_bar.set_xlim(0.0, float(w.max()) * 1.3 if float(w.max()) > 0 else 1.0)
        ax_bar.set_yticks([])
        ax_bar.spines["left"].set_visible(True)
        ax_bar.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v * 100:.0f}%"))
        ax_bar.set_xlabel("attention weight")
        ax_bar.text(
            float(w[peak]) * 1.02,
            peak,
            f" row {peak}: {percent(float(w[peak]))}",
            va="center",
            fontsize=7.5,
            color=ORANGE,
        )
        ax_bar.set_title("attention per row", fontsize=9)
        return save_figure(fig, path)
