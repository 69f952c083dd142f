"""Looking inside the network: attribution, units, layers, gates, attention, embeddings, errors.

Every function takes numpy arrays and plain Python values (nothing here imports torch), writes
one image atomically with :func:`save` and returns the :class:`pathlib.Path` written.

Colour conventions shared by all of them:

- signed quantities (attributions, weights, hidden and cell states, logits) use a diverging
  map (:data:`DIVERGING`) with limits symmetric around 0, so white is always 0, red positive
  and blue negative;
- non-negative quantities (ReLU activations, gates in [0, 1], attribution magnitudes) use a
  sequential map (:data:`SEQUENTIAL`);
- grids of many small images are drawn with ``imshow`` on one inch-coordinate canvas (one axes
  per figure section at most), which keeps each drawing well under a second of CPU time.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.cm import ScalarMappable
from matplotlib.collections import PatchCollection
from matplotlib.colors import Colormap, Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle
from matplotlib.ticker import FuncFormatter, MaxNLocator

from ._checks import as_labels, as_unit_pixels, percent
from ._style import (
    BLUE,
    FAINT,
    GREEN,
    INK,
    MUTED,
    ORANGE,
    RED,
    PathLike,
    figure,
    inch_canvas,
    save,
    truncate,
)
from .confusion import MAX_ANNOTATED_CLASSES, _as_matrix, _count

Float = npt.NDArray[np.float64]

#: Colour map for signed values, always with limits symmetric around 0.
DIVERGING = "RdBu_r"
#: Colour map for non-negative values (activations after ReLU, gates in [0, 1]).
SEQUENTIAL = "viridis"
#: Colour map for non-negative attributions overlaid on the input.
HEAT_SEQUENTIAL = "magma"

#: At most this many classes are listed in :func:`draw_attribution`'s bar chart.
TOP_CLASSES = 5
#: At most this many rows are drawn by :func:`draw_sequence_attribution`.
MAX_SEQUENCE_ROWS = 16
#: Texts longer than this are cut in :func:`draw_sequence_attribution`.
MAX_SEQUENCE_CHARS = 40
#: Layers with more units than this are drawn as a near-square grid, not a strip.
STRIP_LIMIT = 64
#: At most this many units per row in :func:`draw_active_units`.
MAX_ACTIVE_UNITS = 10
#: At most this many examples per row in :func:`draw_top_losses`.
TOP_LOSSES_COLS = 6
#: Step labels are thinned to every k-th when a sequence has more steps than this.
MAX_STEP_LABELS = 30

_MARGIN = 0.3
_HEADER_H = 0.95
_NAME_LIMIT = 12
_MONO = "DejaVu Sans Mono"
_BAD = "#eef2f6"  # padding cells of reshaped grids
_STRIP_H = 0.36  # height in inches of a layer drawn as a 1 × N strip

#: Resolution of these figures: they are many per report, and 110 dpi keeps their text sharp
#: at about two thirds of the drawing time and file size of the default 150.
DPI = 110


# --- input checks --------------------------------------------------------------------------------


def _finite(values: Any, name: str, ndim: int) -> Float:
    """``values`` as a float array with ``ndim`` dimensions and only finite entries."""
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a numeric array: {exc}") from None
    if arr.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D; got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} is empty (shape {arr.shape})")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr


def _pixels(values: Any, name: str, ndim: int = 2) -> Float:
    """An image (``ndim`` = 2) or a stack of images (3) as floats in [0, 1].

    Accepts uint8-style integers 0..255 or floats in [0, 1]; a singleton channel axis is
    dropped.
    """
    arr = np.asarray(values)
    if arr.ndim == ndim + 1 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    elif arr.ndim == ndim + 1 and arr.shape[-3] == 1:
        arr = arr[0] if ndim == 2 else arr[:, 0]
    shape = "(H, W)" if ndim == 2 else "(K, H, W)"
    if arr.ndim != ndim:
        raise ValueError(f"{name} must have shape {shape}; got shape {arr.shape}")
    if ndim == 2 and arr.size == 0:
        raise ValueError(f"{name} is empty (shape {arr.shape})")
    return as_unit_pixels(arr, name)


def _top(top: Any, name: str) -> list[tuple[str, float]]:
    """``top`` as a non-empty list of (class name, probability in [0, 1]) pairs."""
    try:
        pairs = [(str(cls), float(p)) for cls, p in top]
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a list of (class name, probability) pairs") from None
    if not pairs:
        raise ValueError(f"{name} is empty: give at least the predicted (class, probability)")
    for cls, p in pairs:
        if not math.isfinite(p) or p < -1e-6 or p > 1.0 + 1e-6:
            raise ValueError(f"{name}: the probability of {cls!r} must lie in [0, 1]; got {p!r}")
    return [(cls, min(max(p, 0.0), 1.0)) for cls, p in pairs]


def _named_arrays(layers: Any, name: str, ndim: int) -> list[tuple[str, Float]]:
    """``layers`` as a non-empty list of (name, finite ``ndim``-D array)."""
    try:
        items = [(str(layer_name), values) for layer_name, values in layers]
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a list of (name, array) pairs") from None
    if not items:
        raise ValueError(f"{name} is empty")
    return [(n, _finite(v, f"{name}[{i}] ({n!r})", ndim)) for i, (n, v) in enumerate(items)]


def _class_indices(
    values: Any, name: str, n: int, n_classes: int, items: str
) -> npt.NDArray[np.int64]:
    """``values`` as ``n`` class indices in 0..n_classes-1, errors naming the argument."""
    arr = np.asarray(values).reshape(-1)
    if arr.shape[0] != n:
        raise ValueError(f"{name} has {arr.shape[0]} entries but there are {n} {items}")
    try:
        return as_labels(arr, n, n_classes, items=items)
    except ValueError as exc:
        raise ValueError(f"{name}: {exc}") from None


def _sym(values: Float) -> float:
    """The symmetric colour limit for signed ``values``: their largest magnitude (1 if all 0)."""
    m = float(np.max(np.abs(values))) if values.size else 0.0
    return m if m > 0 else 1.0


def _cmap(name: str) -> Colormap:
    return colormaps[name].with_extremes(bad=_BAD)


def _scale(values: Float) -> tuple[str, Normalize, bool]:
    """(colour map, norm, signed): sequential from 0 when all values are ≥ 0, else diverging."""
    if values.size and float(values.min()) >= 0.0:
        top = float(values.max())
        return SEQUENTIAL, Normalize(0.0, top if top > 0 else 1.0), False
    lim = _sym(values)
    return DIVERGING, Normalize(-lim, lim), True


def _fmt(value: float) -> str:
    return f"{value:.3g}"


# --- layout helpers ------------------------------------------------------------------------------


def _header(
    fig: Figure, width: float, height: float, title: str, subtitle: str = "", key: str = ""
) -> None:
    """Bold title, an ink subtitle line and a muted key line at the top of the figure."""
    fig.text(
        _MARGIN / width,
        1 - 0.3 / height,
        title,
        fontsize=13 if width > 6 else 11,
        fontweight="bold",
        ha="left",
        va="center",
    )
    if subtitle:
        fig.text(_MARGIN / width, 1 - 0.58 / height, subtitle, fontsize=9, va="center")
    if key:
        fig.text(_MARGIN / width, 1 - 0.78 / height, key, fontsize=8, color=MUTED, va="center")


def _axes(fig: Figure, width: float, height: float, x: float, y: float, w: float, h: float) -> Axes:
    """An axes at (x, y) inches from the bottom-left corner, ``w`` × ``h`` inches."""
    return fig.add_axes((x / width, y / height, w / width, h / height))


def _colorbar(
    fig: Figure,
    cax: Axes,
    cmap: str | Colormap,
    norm: Normalize,
    label: str,
    *,
    horizontal: bool = False,
    fontsize: float = 7.5,
) -> Any:
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


def _clean(ax: Axes) -> None:
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(True)
        spine.set_color(FAINT)
        spine.set_linewidth(0.6)


def _overlay(
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


def _tiles(
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


def _grid_shape(n: int) -> tuple[int, int]:
    """(rows, cols) of the near-square grid a layer of ``n`` units is reshaped to.

    Unit ``i`` sits at row ``i // cols``, column ``i % cols``; 256 units give 16 × 16.
    """
    if n < 1:
        raise ValueError(f"a layer needs at least one unit; got {n}")
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    return rows, cols


def _as_grid(values: Float) -> Float:
    """1-D ``values`` as a 1 × N strip, or a near-square grid padded with NaN when N > 64."""
    n = values.shape[0]
    if n <= STRIP_LIMIT:
        return values.reshape(1, n)
    rows, cols = _grid_shape(n)
    grid = np.full(rows * cols, np.nan)
    grid[:n] = values
    return grid.reshape(rows, cols)


# --- 1. attribution for one image ----------------------------------------------------------------


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
    img = _pixels(image, "image")
    h = _finite(heat, "heat", 2)
    if h.shape != img.shape:
        raise ValueError(f"heat has shape {h.shape} but image has shape {img.shape}; must match")
    pairs = _top(top, "top")[:TOP_CLASSES]
    method_name = str(method).strip()
    if not method_name:
        raise ValueError("method must name the attribution method (e.g. 'integrated-gradients')")
    true = None if true_label is None else str(true_label)

    signed = bool(h.min() < 0)
    if signed:
        lim = _sym(h)
        cmap, norm = DIVERGING, Normalize(-lim, lim)
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
    width, height = 10.2, _HEADER_H + 0.4 + side + 0.4
    y0 = 0.4
    with figure(width, height) as fig:
        _header(fig, width, height, title or "What the network looked at", subtitle, key)
        rows, cols = img.shape

        ax_in = _axes(fig, width, height, 0.35, y0, side, side)
        ax_in.imshow(img, cmap="gray_r", vmin=0.0, vmax=1.0, interpolation="nearest")
        ax_in.set_title(f"input ({rows}×{cols} pixels)", fontsize=9.5)
        _clean(ax_in)

        ax_heat = _axes(fig, width, height, 3.45, y0, side, side)
        _overlay(ax_heat, img, h, cmap, norm, signed)
        ax_heat.set_title(f"{method_name} attribution", fontsize=9.5)
        _clean(ax_heat)
        cax = _axes(fig, width, height, 6.33, y0 + 0.2, 0.12, side - 0.4)
        _colorbar(fig, cax, cmap, norm, "attribution (signed)" if signed else "attribution")

        # Bars: the prediction first, at the top.
        bar_x = 7.9
        ax_bar = _axes(fig, width, height, bar_x, y0 + 0.35, width - bar_x - 0.55, side - 0.7)
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
        ax_bar.set_yticklabels([truncate(c, _NAME_LIMIT) for c, _p in pairs], fontsize=8.5)
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
            bar_title += f"\n(true {truncate(true, _NAME_LIMIT)} not among them)"
        ax_bar.set_title(bar_title, fontsize=9.5, color=INK)
        return save(fig, path, dpi=DPI)


# --- 2. attribution per character ---------------------------------------------------------------


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
        scores = _finite(item["scores"], f"items[{i}]['scores']", 1)
        if scores.shape[0] != len(text):
            raise ValueError(
                f"items[{i}]['scores'] has {scores.shape[0]} values but the text {text!r} has "
                f"{len(text)} characters; give one score per character"
            )
        true = item.get("true")
        rows.append((text, scores, _top(item["top"], f"items[{i}]['top']"), _opt_str(true)))
    if not rows:
        raise ValueError("items is empty: there is nothing to draw")
    n_all = len(rows)
    rows = rows[:MAX_SEQUENCE_ROWS]
    n = len(rows)

    lim = max(_sym(s[:MAX_SEQUENCE_CHARS]) for _t, s, _p, _tr in rows)
    norm = Normalize(-lim, lim)
    cmap = colormaps[DIVERGING]
    longest = min(max(len(t) for t, _s, _p, _tr in rows), MAX_SEQUENCE_CHARS)
    box_w, box_h, row_h = 0.21, 0.27, 0.4
    text_w = max(longest * box_w + 0.35, 1.5)
    pred_w = 3.0
    width = max(2 * _MARGIN + text_w + pred_w, 6.0)
    colhead_h = 0.3
    foot_h = 0.8
    height = _HEADER_H + colhead_h + n * row_h + foot_h
    x_text = _MARGIN
    x_pred = x_text + text_w

    with figure(width, height) as fig:
        labelled = [tr for _t, _s, _p, tr in rows if tr is not None]
        more = f" (first {n} of {n_all})" if n_all > n else ""
        if labelled:
            right = sum(1 for _t, _s, p, tr in rows if tr is not None and p[0][0] == tr)
            subtitle = f"{right} correct of {len(labelled)} with a known class{more}"
        else:
            subtitle = f"{n} texts{more}"
        _header(
            fig,
            width,
            height,
            title or f"Which characters mattered ({method_name})",
            subtitle,
            "each box is one character · red = raises the explained class's score, "
            "blue = lowers it · one scale for all rows",
        )
        canvas = inch_canvas(fig, width, height)
        head_y = height - _HEADER_H - colhead_h / 2.0
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
        rule_y = height - _HEADER_H - colhead_h
        canvas.plot([_MARGIN, width - _MARGIN], [rule_y, rule_y], color=MUTED, linewidth=0.6)

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
                    family=_MONO,
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
        canvas.add_collection(PatchCollection(frames, match_original=True), autolim=False)

        bar_w = min(3.0, width - 2 * _MARGIN)
        cax = _axes(fig, width, height, _MARGIN, 0.45, bar_w, 0.1)
        _colorbar(
            fig,
            cax,
            cmap,
            norm,
            "attribution per character (0 = white)",
            horizontal=True,
        )
        return save(fig, path, dpi=DPI)


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)


# --- 3. first-layer units' weights ---------------------------------------------------------------


def draw_unit_weights(
    weights: np.ndarray,
    path: PathLike,
    *,
    title: str = "",
    highlight: Sequence[int] = (),
    values: Sequence[float] | None = None,
    max_units: int = 64,
) -> Path:
    """Draw first-layer units' incoming weights as images in a grid; return the path.

    Each tile is one unit's (H, W) weights on its own diverging scale, symmetric around 0: red
    pixels excite the unit when there is ink, blue ones inhibit it. The first ``max_units``
    units are drawn, or the ``highlight``-ed ones in that order; ``values`` (one per drawn unit)
    are written under the tiles (e.g. the unit's activation for some input).

    Args:
        weights: (U, H, W) incoming weights of each unit.
        path: Where to write the image.
        title: Heading; a default one is used when empty.
        highlight: Unit indices to draw instead of the first ones.
        values: Optional numbers, one per drawn unit (len(highlight) or min(U, max_units)).
        max_units: At most this many tiles.

    Raises:
        ValueError: On a wrong shape, non-finite weights or values, indices out of range, or a
            ``values`` length that does not match the units drawn.
    """
    if max_units < 1:
        raise ValueError(f"max_units must be at least 1, got {max_units}")
    w = _finite(weights, "weights", 3)
    n_units = w.shape[0]
    if len(highlight):
        units = [int(u) for u in highlight]
        bad = [u for u in units if u < 0 or u >= n_units]
        if bad:
            raise ValueError(f"highlight holds unit {bad[0]}, outside 0..{n_units - 1}")
    else:
        units = list(range(min(n_units, max_units)))
    vals: Float | None = None
    if values is not None:
        vals = _finite(values, "values", 1)
        if vals.shape[0] != len(units):
            raise ValueError(
                f"values has {vals.shape[0]} entries but {len(units)} units are drawn; give one "
                "value per drawn unit"
            )
    n_asked = len(units)
    units = units[:max_units]
    if vals is not None:
        vals = vals[: len(units)]
    n = len(units)

    cols = n if n <= 8 else min(max(math.ceil(math.sqrt(n)), 8), 12)
    rows = math.ceil(n / cols)
    size = 0.85
    title_h = 0.2
    below_h = 0.22 if vals is not None else 0.06
    cell_w, cell_h = size + 0.15, title_h + size + below_h + 0.06
    grid_w = cols * cell_w
    width = max(grid_w + 2 * _MARGIN, 6.0)
    foot_h = 0.75
    height = _HEADER_H + rows * cell_h + foot_h
    left = (width - grid_w) / 2.0 + 0.075

    tiles = [w[u] for u in units]
    norms = [Normalize(-_sym(t), _sym(t)) for t in tiles]
    above = [f"unit {u}" for u in units]
    below = [] if vals is None else [f"act {_fmt(float(v))}" for v in vals]
    subtitle = f"{n} of {n_units} units, each {w.shape[1]}×{w.shape[2]}"
    if len(highlight):
        subtitle += " (highlighted units, in the order given)"
    if n_asked > n:
        subtitle += f" · first {n} of the {n_asked} asked for"
    with figure(width, height) as fig:
        _header(
            fig,
            width,
            height,
            title or "What each first-layer unit looks for",
            subtitle,
            "each tile: one unit's incoming weights · red = ink here excites the unit, "
            "blue = inhibits it",
        )
        canvas = inch_canvas(fig, width, height)
        frames = _tiles(
            canvas,
            tiles,
            left,
            height - _HEADER_H - 0.05,
            cols,
            size,
            cell_w,
            cell_h,
            cmap=DIVERGING,
            norms=norms,
            above=above,
            below=below,
            title_h=title_h,
        )
        canvas.add_collection(PatchCollection(frames, match_original=True), autolim=False)
        cax = _axes(fig, width, height, _MARGIN, 0.42, 1.8, 0.1)
        bar = _colorbar(
            fig,
            cax,
            DIVERGING,
            Normalize(-1.0, 1.0),
            "weight, each tile on its own scale (± its largest |weight|)",
            horizontal=True,
        )
        bar.set_ticks([-1.0, 0.0, 1.0])
        bar.set_ticklabels(["−max", "0", "+max"])
        return save(fig, path, dpi=DPI)


# --- 4. activations layer by layer ---------------------------------------------------------------


def draw_layer_activations(
    layers: Sequence[tuple[str, np.ndarray]],
    path: PathLike,
    *,
    image: np.ndarray | None = None,
    title: str = "",
) -> Path:
    """Draw every layer's activations for one input, one row per layer; return the path.

    A layer of up to :data:`STRIP_LIMIT` units is a 1 × N strip; a larger one is folded into a
    near-square grid (256 units → 16 × 16, unit i at row i // cols, column i % cols). Each row
    has its own colour bar (sequential from 0 when all values are ≥ 0, else diverging around 0)
    and the count of active units (> 0) and the largest value.

    Args:
        layers: (name, 1-D values) per layer, in the order the data flows.
        path: Where to write the image.
        image: Optional (H, W) input, drawn on the left.
        title: Heading; a default one is used when empty.

    Raises:
        ValueError: If ``layers`` is empty, a layer is not 1-D or holds non-finite values, or
            the image is not an (H, W) array in [0, 1].
    """
    named = _named_arrays(layers, "layers", 1)
    img = None if image is None else _pixels(image, "image")

    heat_w = 5.0
    label_h, gap = 0.32, 0.3
    shapes: list[tuple[float, float]] = []  # (w, h) of each heat axes, inches
    for _name, values in named:
        grid = _as_grid(values)
        r, c = grid.shape
        if r == 1:
            cell = min(0.3, heat_w / c)
            shapes.append((cell * c, _STRIP_H))
        else:
            cell = min(0.15, 2.4 / max(r, c))
            shapes.append((cell * c, cell * r))
    # Strips carry unit-index ticks under them; grids do not.
    rows_h = [label_h + h + (0.22 if h == _STRIP_H else 0.08) + gap for _w, h in shapes]
    img_w = 2.3 if img is not None else 0.0
    x_heat = _MARGIN + img_w + 0.1
    width = x_heat + heat_w + 0.95 + 2.0
    content_h = sum(rows_h)
    if img is not None:
        content_h = max(content_h, 2.6)
    height = _HEADER_H + content_h + 0.15

    with figure(width, height) as fig:
        _header(
            fig,
            width,
            height,
            title or "Activations, layer by layer",
            "one input's activations: each square is one unit, its colour that unit's value",
            f"layers with more than {STRIP_LIMIT} units are folded into a square grid, "
            "row by row (unit 0 top left) · grey = padding",
        )
        if img is not None:
            side = 1.9
            ax_img = _axes(
                fig, width, height, _MARGIN, height - _HEADER_H - 0.35 - side, side, side
            )
            ax_img.imshow(img, cmap="gray_r", vmin=0.0, vmax=1.0, interpolation="nearest")
            ax_img.set_title(f"input ({img.shape[0]}×{img.shape[1]})", fontsize=9)
            _clean(ax_img)

        top = height - _HEADER_H
        for (name, values), (w_in, h_in), row_h in zip(named, shapes, rows_h, strict=True):
            grid = _as_grid(values)
            cmap, norm, signed = _scale(values)
            y = top - label_h - h_in
            ax = _axes(fig, width, height, x_heat, y, w_in, h_in)
            ax.imshow(grid, cmap=_cmap(cmap), norm=norm, interpolation="nearest", aspect="auto")
            _clean(ax)
            n = values.shape[0]
            if grid.shape[0] == 1:
                ticks = list(range(n)) if n <= 16 else [0, n - 1]
                ax.set_xticks(ticks)
                ax.set_xticklabels([str(t) for t in ticks], fontsize=6.5)
                ax.tick_params(axis="x", length=2)
            rr, cc = grid.shape
            shape_note = f" · shown as {rr}×{cc}" if rr > 1 else ""
            fig.text(
                x_heat / width,
                (top - 0.14) / height,
                f"{name} · {n} units{shape_note}",
                fontsize=9,
                fontweight="bold",
                va="center",
            )
            cax = _axes(fig, width, height, x_heat + w_in + 0.12, y, 0.1, h_in)
            bar = _colorbar(fig, cax, cmap, norm, "", fontsize=7)
            if h_in >= 0.8:
                bar.set_label("value" if signed else "activation", fontsize=7)
            bar.locator = MaxNLocator(3)
            bar.update_ticks()
            active = int(np.sum(values > 0))
            fig.text(
                (x_heat + w_in + 0.85) / width,
                (y + h_in / 2) / height,
                f"{active} of {n} active (> 0)\nmax {_fmt(float(values.max()))}"
                f" · min {_fmt(float(values.min()))}",
                fontsize=8.5,
                va="center",
                linespacing=1.3,
            )
            top -= row_h
        return save(fig, path, dpi=DPI)


# --- 5. most and least active units ---------------------------------------------------------------


def _units(units: Any, name: str) -> list[tuple[int, float, Float]]:
    try:
        out = [(int(u), float(a), w) for u, a, w in units]
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a list of (unit index, activation, weights)") from None
    checked = []
    for j, (u, a, w) in enumerate(out):
        if not math.isfinite(a):
            raise ValueError(f"{name}[{j}]: the activation of unit {u} is not finite")
        checked.append((u, a, _finite(w, f"{name}[{j}] weights", 2)))
    return checked


def draw_active_units(
    image: np.ndarray,
    most: Sequence[tuple[int, float, np.ndarray]],
    least: Sequence[tuple[int, float, np.ndarray]],
    path: PathLike,
    *,
    title: str = "",
) -> Path:
    """Draw an input and the weights of the units it excites most and least; return the path.

    Each unit's tile is its incoming weights on its own diverging scale (red = ink here excites
    the unit), titled with the unit's index and its activation for this input.

    Args:
        image: (H, W) input.
        most: (unit index, activation, (H, W) weights) of the most active units, strongest first.
        least: The same for the least active units.
        path: Where to write the image.
        title: Heading; a default one is used when empty.

    Raises:
        ValueError: If both lists are empty, an entry is malformed, or values are not finite.
    """
    img = _pixels(image, "image")
    rows = [
        ("most active", _units(most, "most")[:MAX_ACTIVE_UNITS]),
        ("least active", _units(least, "least")[:MAX_ACTIVE_UNITS]),
    ]
    if not rows[0][1] and not rows[1][1]:
        raise ValueError("most and least are both empty: there are no units to draw")
    n = max(len(r[1]) for r in rows)
    size, title_h = 0.95, 0.36
    cell_w, cell_h = size + 0.2, title_h + size + 0.25
    img_side = 1.7
    x_label = _MARGIN + img_side + 0.35
    x_tiles = x_label + 1.0
    width = max(x_tiles + n * cell_w + _MARGIN, 6.5)
    foot_h = 0.7
    height = _HEADER_H + max(2 * cell_h, img_side + 0.4) + foot_h

    with figure(width, height) as fig:
        _header(
            fig,
            width,
            height,
            title or "Which units this input drives",
            "each tile: a unit's incoming weights, titled with the unit and its activation",
            "red = ink here excites the unit, blue = inhibits it · each tile on its own scale",
        )
        canvas = inch_canvas(fig, width, height)
        top = height - _HEADER_H
        iy = top - 0.3 - img_side
        canvas.imshow(
            img,
            cmap="gray_r",
            vmin=0.0,
            vmax=1.0,
            interpolation="nearest",
            extent=(_MARGIN, _MARGIN + img_side, iy, iy + img_side),
            aspect="auto",
        )
        frames = [Rectangle((_MARGIN, iy), img_side, img_side, fill=False, edgecolor=FAINT)]
        canvas.text(
            _MARGIN + img_side / 2,
            iy + img_side + 0.06,
            "input",
            ha="center",
            va="bottom",
            fontsize=9,
        )
        for r, (label, units) in enumerate(rows):
            row_top = top - r * cell_h
            canvas.text(
                x_label,
                row_top - title_h - size / 2,
                label,
                ha="left",
                va="center",
                fontsize=9.5,
                fontweight="bold",
                color=GREEN if r == 0 else MUTED,
            )
            if not units:
                canvas.text(
                    x_tiles,
                    row_top - title_h - size / 2,
                    "(none given)",
                    va="center",
                    fontsize=8.5,
                    color=MUTED,
                )
                continue
            tiles = [w for _u, _a, w in units]
            frames += _tiles(
                canvas,
                tiles,
                x_tiles,
                row_top,
                len(tiles),
                size,
                cell_w,
                cell_h,
                cmap=DIVERGING,
                norms=[Normalize(-_sym(t), _sym(t)) for t in tiles],
                above=[f"unit {u}\nact {_fmt(a)}" for u, a, _w in units],
                title_h=title_h,
            )
        canvas.add_collection(PatchCollection(frames, match_original=True), autolim=False)
        cax = _axes(fig, width, height, _MARGIN, 0.4, 1.8, 0.1)
        bar = _colorbar(
            fig,
            cax,
            DIVERGING,
            Normalize(-1.0, 1.0),
            "weight (± the tile's largest |weight|)",
            horizontal=True,
        )
        bar.set_ticks([-1.0, 0.0, 1.0])
        bar.set_ticklabels(["−max", "0", "+max"])
        return save(fig, path, dpi=DPI)


# --- 6. convolution filters ----------------------------------------------------------------------


def _tile_section(
    fig: Figure,
    canvas: Axes,
    where: tuple[float, float, float],
    label: str,
    shown: np.ndarray,
    layout: tuple[int, int, float, float, float, float, float],
    cmap: str | Colormap,
    norm: Normalize,
    bar_label: str,
) -> list[Rectangle]:
    """One layer's section of a tile figure (filters, feature maps): its bold label, the
    (N, h, w) tiles in a grid on one colour scale, and that scale's colour bar beside them.
    ``where``: (figure width, figure height, top of the section), inches. ``layout``:
    (cols, rows, tile size, cell width, cell height, tile label height, label row height).
    Returns the tiles' frames (drawn by the caller in one collection)."""
    width, height, top = where
    cols, rows, size, cell_w, cell_h, label_h, sec_h = layout
    canvas.text(_MARGIN, top - sec_h / 2, label, fontsize=9, fontweight="bold", va="center")
    frames = _tiles(
        canvas,
        list(shown),
        _MARGIN,
        top - sec_h,
        cols,
        size,
        cell_w,
        cell_h,
        cmap=cmap,
        norms=[norm] * shown.shape[0],
        above=[str(k) for k in range(shown.shape[0])],
        title_h=label_h,
        fontsize=6,
    )
    grid_h = rows * cell_h
    cax = _axes(
        fig,
        width,
        height,
        _MARGIN + cols * cell_w + 0.15,
        top - sec_h - grid_h + 0.05,
        0.1,
        max(grid_h - 0.1, 0.4),
    )
    _colorbar(fig, cax, cmap, norm, bar_label, fontsize=7)
    return frames


def draw_conv_filters(
    layers: Sequence[tuple[str, np.ndarray]],
    path: PathLike,
    *,
    title: str = "",
    max_filters: int = 32,
) -> Path:
    """Draw each convolution layer's filters as small k × k images; return the path.

    One section per layer. Each tile is one output filter's kernel averaged over its input
    channels, on a diverging scale shared by the layer and symmetric around 0 (red = positive
    weight). At most ``max_filters`` filters per layer are drawn.

    Args:
        layers: (name, (out, in, kh, kw) weights) per convolution layer.
        path: Where to write the image.
        title: Heading; a default one is used when empty.
        max_filters: At most this many filters per layer.

    Raises:
        ValueError: If ``layers`` is empty or a weight array is not 4-D and finite.
    """
    if max_filters < 1:
        raise ValueError(f"max_filters must be at least 1, got {max_filters}")
    named = _named_arrays(layers, "layers", 4)
    size, label_h, sec_h = 0.48, 0.17, 0.34
    cell_w = size + 0.1
    col_limit = 16
    sections = []
    for name, w in named:
        mean = w.mean(axis=1)  # (out, kh, kw)
        shown = mean[:max_filters]
        cols = min(col_limit, shown.shape[0])
        rows = math.ceil(shown.shape[0] / cols)
        sections.append((name, w.shape, shown, cols, rows))
    max_cols = max(s[3] for s in sections)
    width = max(_MARGIN + max_cols * cell_w + 1.2, 6.5)
    cell_h = label_h + size + 0.06
    heights = [sec_h + rows * cell_h + 0.2 for *_rest, rows in sections]
    height = _HEADER_H + sum(heights) + 0.1

    with figure(width, height) as fig:
        _header(
            fig,
            width,
            height,
            title or "Convolution filters",
            "each tile: one output filter's kernel, averaged over its input channels",
            "red = positive weight, blue = negative, white = 0 · one scale per layer",
        )
        canvas = inch_canvas(fig, width, height)
        frames: list[Rectangle] = []
        top = height - _HEADER_H
        for (name, shape, shown, cols, rows), sec in zip(sections, heights, strict=True):
            out_c, in_c, kh, kw = shape
            more = f" (first {shown.shape[0]})" if out_c > shown.shape[0] else ""
            channels = "channel" if in_c == 1 else "channels"
            lim = _sym(shown)
            label = (
                f"{name} · {out_c} filters{more} of {kh}×{kw}, averaged over {in_c} input "
                f"{channels}"
            )
            frames += _tile_section(
                fig,
                canvas,
                (width, height, top),
                label,
                shown,
                (cols, rows, size, cell_w, cell_h, label_h, sec_h),
                DIVERGING,
                Normalize(-lim, lim),
                "weight",
            )
            top -= sec
        canvas.add_collection(PatchCollection(frames, match_original=True), autolim=False)
        return save(fig, path, dpi=DPI)


# --- 7. feature maps -----------------------------------------------------------------------------


def draw_feature_maps(
    image: np.ndarray,
    layers: Sequence[tuple[str, np.ndarray]],
    path: PathLike,
    *,
    title: str = "",
    max_maps: int = 16,
) -> Path:
    """Draw an input and the feature maps each layer computes from it; return the path.

    One section per layer, labelled "conv1 · 16×28×28", with up to ``max_maps`` maps wrapped in
    rows of 8, on one colour scale per layer (sequential from 0 when all values are ≥ 0, as after
    a ReLU, else diverging around 0).

    Args:
        image: (H, W) input.
        layers: (name, (C, h, w) maps) per layer.
        path: Where to write the image.
        title: Heading; a default one is used when empty.
        max_maps: At most this many maps per layer.

    Raises:
        ValueError: If ``layers`` is empty, maps are not 3-D and finite, or the image is bad.
    """
    if max_maps < 1:
        raise ValueError(f"max_maps must be at least 1, got {max_maps}")
    img = _pixels(image, "image")
    named = _named_arrays(layers, "layers", 3)
    size, label_h, sec_h = 0.78, 0.16, 0.34
    cell_w, cell_h = size + 0.1, label_h + size + 0.06
    col_limit = 8
    img_side = 1.5
    sections = []
    for name, maps in named:
        shown = maps[:max_maps]
        cols = min(col_limit, shown.shape[0])
        rows = math.ceil(shown.shape[0] / cols)
        sections.append((name, maps.shape, shown, cols, rows))
    max_cols = max(s[3] for s in sections)
    width = max(_MARGIN + max_cols * cell_w + 1.25, 6.5)
    heights = [sec_h + rows * cell_h + 0.2 for *_rest, rows in sections]
    input_h = sec_h + img_side + 0.25
    height = _HEADER_H + input_h + sum(heights) + 0.1

    with figure(width, height) as fig:
        _header(
            fig,
            width,
            height,
            title or "Feature maps: what each layer computes from the input",
            "each tile: one channel's output (channels × height × width in the row labels)",
            "one colour scale per layer · bright = strong response",
        )
        canvas = inch_canvas(fig, width, height)
        top = height - _HEADER_H
        canvas.text(
            _MARGIN,
            top - sec_h / 2,
            f"input · {img.shape[0]}×{img.shape[1]}",
            fontsize=9,
            fontweight="bold",
            va="center",
        )
        iy = top - sec_h - img_side
        canvas.imshow(
            img,
            cmap="gray_r",
            vmin=0.0,
            vmax=1.0,
            interpolation="nearest",
            extent=(_MARGIN, _MARGIN + img_side, iy, iy + img_side),
            aspect="auto",
        )
        frames = [Rectangle((_MARGIN, iy), img_side, img_side, fill=False, edgecolor=FAINT)]
        top -= input_h
        for (name, shape, shown, cols, rows), sec in zip(sections, heights, strict=True):
            c, h, w = shape
            more = f" (first {shown.shape[0]} maps)" if c > shown.shape[0] else ""
            cmap, norm, signed = _scale(shown)
            frames += _tile_section(
                fig,
                canvas,
                (width, height, top),
                f"{name} · {c}×{h}×{w}{more}",
                shown,
                (cols, rows, size, cell_w, cell_h, label_h, sec_h),
                cmap,
                norm,
                "value" if signed else "activation",
            )
            top -= sec
        canvas.add_collection(PatchCollection(frames, match_original=True), autolim=False)
        return save(fig, path, dpi=DPI)


# --- 8. recurrent gates and states ---------------------------------------------------------------

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
    named = _named_arrays(panels, "panels", 2)
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
    height = _HEADER_H + sum(h + title_h + gap for h in heights) + axis_h
    every = 1 if n_steps <= MAX_STEP_LABELS else math.ceil(n_steps / 20)

    with figure(width, height) as fig:
        _header(
            fig,
            width,
            height,
            title or "Inside the recurrent layer, step by step",
            f"{n_steps} time steps, left to right · each row of a panel is one unit",
            "gates: 0 = closed, 1 = open · states: red > 0, blue < 0, white = 0",
        )
        top = height - _HEADER_H
        axes: list[Axes] = []
        for (name, values), h in zip(named, heights, strict=True):
            lower = name.lower()
            in_unit = float(values.min()) >= 0.0 and float(values.max()) <= 1.0
            if any(word in lower for word in _SIGNED_PANELS) or not in_unit:
                lim = _sym(values)
                cmap, norm, bar_label = DIVERGING, Normalize(-lim, lim), "value"
                scale = "signed"
            else:
                cmap, norm, bar_label = SEQUENTIAL, Normalize(0.0, 1.0), "gate (0–1)"
                scale = "0–1"
            y = top - title_h - h
            # The same extent in every panel lines the steps up; only the last one is labelled
            # (no sharex: shared tick objects would be built, and drawn, for every panel).
            ax = _axes(fig, width, height, left, y, heat_w, h)
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
                f"{name} · {values.shape[0]} units · {scale}", fontsize=9, loc="left", pad=3
            )
            ax.set_ylabel("unit", fontsize=8)
            ax.yaxis.set_major_locator(MaxNLocator(4, integer=True))
            ax.tick_params(axis="y", labelsize=7, length=2)
            ax.tick_params(axis="x", length=2)
            ax.set_xticks([])
            for spine in ax.spines.values():
                spine.set_visible(True)
                spine.set_color(FAINT)
            cax = _axes(fig, width, height, left + heat_w + 0.12, y, 0.1, h)
            _colorbar(fig, cax, cmap, norm, bar_label, fontsize=7)
            top = y - gap
        last = axes[-1]
        ticks = list(range(0, n_steps, every))
        last.set_xticks(ticks)
        last.set_xticklabels(
            [labels[t] for t in ticks],
            fontsize=8 if n_steps <= MAX_STEP_LABELS else 7,
            family=_MONO if all(len(s) == 1 for s in labels) else None,
            rotation=0 if max(len(labels[t]) for t in ticks) <= 2 else 90,
        )
        last.set_xlabel("time step" + (f" (a label every {every} steps)" if every > 1 else ""))
        return save(fig, path, dpi=DPI)


# --- 9. attention --------------------------------------------------------------------------------


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
    w = _finite(weights, "weights", 1)
    if float(w.min()) < -1e-6:
        raise ValueError(f"weights must be non-negative; the smallest is {float(w.min()):.3g}")
    total = float(w.sum())
    if not np.isclose(total, 1.0, atol=2e-2):
        raise ValueError(f"weights must sum to 1 (softmax output); they sum to {total:.4g}")
    w = np.clip(w, 0.0, None)
    n = w.shape[0]
    peak = int(np.argmax(w))
    subtitle = f"prediction: {prediction}" if prediction else ""

    if tokens is not None:
        toks = [str(t) for t in tokens]
        if len(toks) != n:
            raise ValueError(f"tokens has {len(toks)} entries but weights has {n}")
        box_w = min(0.45, max(0.22, 9.0 / n))
        width = max(2 * _MARGIN + n * box_w, 6.0)
        bar_max, label_h, tok_h = 1.3, 0.25, 0.36
        height = _HEADER_H + label_h + bar_max + 0.1 + tok_h + 0.55
        x0 = (width - n * box_w) / 2.0
        wmax = float(w.max()) if float(w.max()) > 0 else 1.0
        cmap = colormaps["Blues"]
        show_pct = set(range(n)) if n <= 20 else set(np.argsort(w)[-5:].tolist())
        with figure(width, height) as fig:
            _header(
                fig,
                width,
                height,
                title or "Where the network attends",
                subtitle or f"{n} steps",
                "bar height and shade = attention weight (all bars sum to 100%)",
            )
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
                    family=_MONO,
                    color="white" if light < 0.5 else INK,
                    fontweight="bold" if j == peak else "normal",
                )
            canvas.add_collection(PatchCollection(patches, match_original=True), autolim=False)
            canvas.plot([x0, x0 + n * box_w], [base, base], color=MUTED, linewidth=0.6)
            canvas.text(
                x0,
                0.3,
                f"step 1 … {n}, left to right · orange = most attended",
                fontsize=7.5,
                color=MUTED,
                va="center",
            )
            return save(fig, path, dpi=DPI)

    img = _pixels(image, "image")
    if img.shape[0] != n:
        raise ValueError(
            f"image has {img.shape[0]} rows but weights has {n} entries; give one weight per row"
        )
    side = 3.4
    img_w = side * img.shape[1] / img.shape[0]
    bar_w = 2.4
    width = max(2 * _MARGIN + img_w + 0.7 + bar_w + 0.6, 6.0)
    height = _HEADER_H + 0.35 + side + 0.65
    with figure(width, height) as fig:
        _header(
            fig,
            width,
            height,
            title or "Which rows the network attends to",
            subtitle or f"{n} rows, read top to bottom",
            "bar = attention weight of the image row beside it (all bars sum to 100%)",
        )
        y0 = 0.6
        ax_img = _axes(fig, width, height, _MARGIN + 0.35, y0, img_w, side)
        ax_img.imshow(
            img, cmap="gray_r", vmin=0.0, vmax=1.0, interpolation="nearest", aspect="auto"
        )
        _clean(ax_img)
        every = max(1, math.ceil(n / 14))
        ax_img.set_yticks(range(0, n, every))
        ax_img.set_yticklabels([str(r) for r in range(0, n, every)], fontsize=6.5)
        ax_img.tick_params(axis="y", length=2)
        ax_img.set_ylabel("row", fontsize=8)
        ax_img.set_title("input", fontsize=9)
        ax_bar = _axes(fig, width, height, _MARGIN + 0.35 + img_w + 0.15, y0, bar_w, side)
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
        return save(fig, path, dpi=DPI)


# --- 10. embeddings ------------------------------------------------------------------------------


def _class_colours(n: int) -> list[Any]:
    if n <= 10:
        return [colormaps["tab10"](i) for i in range(n)]
    if n <= 20:
        return [colormaps["tab20"](i) for i in range(n)]
    return [colormaps["turbo"](i / max(n - 1, 1)) for i in range(n)]


def draw_embedding(
    layers: Sequence[tuple[str, np.ndarray, float | None]],
    labels: np.ndarray,
    classes: Sequence[str],
    path: PathLike,
    *,
    method: str = "PCA",
    title: str = "",
) -> Path:
    """Draw the same examples' representations at several layers, projected to 2-D.

    One scatter panel per layer (two rows when there are more than four), points coloured by
    class with one legend for all panels. A panel's "separation" is the silhouette score of the
    classes in the layer's full space (−1 … 1, higher = classes further apart), when given.

    Args:
        layers: (name, (N, 2) projected coordinates, separation score or None) per layer.
        labels: (N,) class index of each example.
        classes: Class names.
        path: Where to write the image.
        method: The projection's name, used for the axis labels ("PCA 1", "PCA 2").
        title: Heading; a default one is used when empty.

    Raises:
        ValueError: If ``layers`` is empty, coordinates are not finite (N, 2) arrays of the same
            N, a score is not finite, or labels are not class indices.
    """
    names = [str(c) for c in classes]
    if not names:
        raise ValueError("classes is empty")
    try:
        items = [(str(name), coords, score) for name, coords, score in layers]
    except (TypeError, ValueError):
        raise ValueError("layers must be a list of (name, (N, 2) coordinates, score)") from None
    if not items:
        raise ValueError("layers is empty")
    panels: list[tuple[str, Float, float | None]] = []
    n_points: int | None = None
    for i, (name, coords, score) in enumerate(items):
        xy = _finite(coords, f"layers[{i}] ({name!r}) coordinates", 2)
        if xy.shape[1] != 2:
            raise ValueError(f"layers[{i}] ({name!r}) coordinates must be (N, 2); got {xy.shape}")
        if n_points is None:
            n_points = xy.shape[0]
        elif xy.shape[0] != n_points:
            raise ValueError(
                f"layers[{i}] ({name!r}) has {xy.shape[0]} points but layers[0] has {n_points}"
            )
        s: float | None = None
        if score is not None:
            s = float(score)
            if not math.isfinite(s):
                raise ValueError(f"layers[{i}] ({name!r}) score must be finite or None")
        panels.append((name, xy, s))
    assert n_points is not None
    y = _class_indices(labels, "labels", n_points, len(names), "points")
    method_name = str(method).strip() or "projection"

    n_panels = len(panels)
    cols = n_panels if n_panels <= 4 else math.ceil(n_panels / 2)
    rows = 1 if n_panels <= 4 else 2
    side, title_h, label_h = 2.6, 0.4, 0.3
    legend_rows = math.ceil(len(names) / 10)
    legend_h = 0.25 + 0.22 * legend_rows
    width = max(2 * _MARGIN + cols * (side + 0.35), 6.5)
    height = _HEADER_H + rows * (title_h + side + label_h) + legend_h
    colours = _class_colours(len(names))
    point_colours = np.array([colours[k] for k in y])
    order = np.random.default_rng(0).permutation(n_points)  # no class painted over the rest
    size = 10.0 if n_points <= 500 else (5.0 if n_points <= 3000 else 2.0)
    x0 = (width - cols * (side + 0.35)) / 2.0 + 0.3

    with figure(width, height) as fig:
        _header(
            fig,
            width,
            height,
            title or "How the classes separate, layer by layer",
            f"{n_points} examples, each layer projected to 2-D with {method_name}, "
            "coloured by true class",
            "separation = silhouette score in the layer's full space (−1 … 1; "
            "higher = classes further apart)",
        )
        for i, (name, xy, score) in enumerate(panels):
            r, c = divmod(i, cols)
            bottom = height - _HEADER_H - (r + 1) * (title_h + side + label_h) + label_h
            ax = _axes(fig, width, height, x0 + c * (side + 0.35), bottom, side, side)
            ax.scatter(
                xy[order, 0],
                xy[order, 1],
                c=point_colours[order],
                s=size,
                linewidths=0,
                alpha=0.75,
            )
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_visible(True)
                spine.set_color(FAINT)
            ax.set_xlabel(f"{method_name} 1", fontsize=8, labelpad=2)
            ax.set_ylabel(f"{method_name} 2", fontsize=8, labelpad=2)
            panel_title = truncate(name, 30)
            if score is not None:
                panel_title += f"\nseparation {score:.2f}"
            ax.set_title(panel_title, fontsize=9, linespacing=1.2)
        handles = [
            Line2D(
                [],
                [],
                marker="o",
                linestyle="",
                markersize=5,
                markerfacecolor=colours[k],
                markeredgewidth=0,
                label=truncate(names[k], 14),
            )
            for k in range(len(names))
        ]
        fig.legend(
            handles=handles,
            loc="lower center",
            ncol=min(len(names), 10),
            bbox_to_anchor=(0.5, 0.1 / height),
            fontsize=7.5,
            handletextpad=0.2,
            columnspacing=0.9,
        )
        return save(fig, path, dpi=DPI)


# --- 11. top losses ------------------------------------------------------------------------------


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
    names = [str(c) for c in classes]
    if not names:
        raise ValueError("classes is empty")
    k_true = np.asarray(true).reshape(-1).shape[0]
    raw = np.asarray(images)
    if raw.size == 0 and k_true == 0:
        imgs = np.zeros((0, 1, 1))
    else:
        imgs = _pixels(images, "images", ndim=3)
    k = imgs.shape[0]
    t = _class_indices(true, "true", k, len(names), "images")
    pr = _class_indices(pred, "pred", k, len(names), "images")
    p = np.asarray(probs, dtype=np.float64).reshape(-1)
    if p.shape[0] != k:
        raise ValueError(f"probs has {p.shape[0]} entries but there are {k} images")
    if p.size and (not np.all(np.isfinite(p)) or p.min() < -1e-6 or p.max() > 1 + 1e-6):
        raise ValueError("probs must be finite probabilities in [0, 1]")
    h: Float | None = None
    if heats is not None and k > 0:
        h = _finite(heats, "heats", 3)
        if h.shape != imgs.shape:
            raise ValueError(f"heats has shape {h.shape} but images has shape {imgs.shape}")
    heading = title or "Where the network went wrong"

    if k == 0:
        width, height = 6.0, 2.2
        with figure(width, height) as fig:
            _header(fig, width, height, heading)
            fig.text(
                0.5,
                0.4,
                "no misclassified examples in the sample",
                ha="center",
                va="center",
                fontsize=11,
                color=MUTED,
            )
            return save(fig, path, dpi=DPI)

    cols = min(TOP_LOSSES_COLS, k)
    rows = math.ceil(k / cols)
    size, title_h = 1.35, 0.42
    cell_w, cell_h = 1.7, title_h + size + 0.15
    grid_w = cols * cell_w
    foot_h = 0.65 if h is not None else 0.15
    width = max(grid_w + 2 * _MARGIN, 6.0)
    height = _HEADER_H + rows * cell_h + foot_h
    left = (width - grid_w) / 2.0 + (cell_w - size) / 2.0
    wrong = int(np.sum(t != pr))
    key = (
        "heat: red = raises the explained class's score, blue = lowers it "
        "(each image on its own scale)"
        if h is not None
        else "probability = what the network gave its (wrong) answer"
    )
    with figure(width, height) as fig:
        _header(fig, width, height, heading, f"{wrong} of {k} shown are misclassified", key)
        canvas = inch_canvas(fig, width, height)
        frames: list[Rectangle] = []
        top = height - _HEADER_H
        for i in range(k):
            r, c = divmod(i, cols)
            ix = left + c * cell_w
            iy = top - r * cell_h - title_h - size
            extent = (ix, ix + size, iy, iy + size)
            if h is not None:
                lim = _sym(h[i])
                _overlay(canvas, imgs[i], h[i], DIVERGING, Normalize(-lim, lim), True, extent)
            else:
                canvas.imshow(
                    imgs[i],
                    cmap="gray_r",
                    vmin=0.0,
                    vmax=1.0,
                    extent=extent,
                    interpolation="nearest",
                    aspect="auto",
                )
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
                    truncate(names[t[i]], _NAME_LIMIT),
                    truncate(names[pr[i]], _NAME_LIMIT),
                    float(p[i]),
                ),
                ha="center",
                va="bottom",
                fontsize=8,
                color=RED if is_wrong else INK,
                fontweight="bold" if is_wrong else "normal",
                linespacing=1.1,
            )
        canvas.add_collection(PatchCollection(frames, match_original=True), autolim=False)
        if h is not None:
            cax = _axes(fig, width, height, _MARGIN, 0.35, 1.8, 0.1)
            bar = _colorbar(
                fig, cax, DIVERGING, Normalize(-1.0, 1.0), "attribution", horizontal=True
            )
            bar.set_ticks([-1.0, 0.0, 1.0])
            bar.set_ticklabels(["−max", "0", "+max"])
        return save(fig, path, dpi=DPI)


# --- 12. confusion: counts and row shares ----------------------------------------------------


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
    the class's recall); a row with no examples shows "—".

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
    counts = _as_matrix(matrix, len(names))
    n = counts.shape[0]
    total = float(counts.sum())
    correct = float(np.trace(counts))
    accuracy = (
        f"accuracy {correct / total:.1%} ({_count(correct)} of {_count(total)})"
        if total > 0
        else "accuracy n/a (empty matrix)"
    )
    row_sums = counts.sum(axis=1, keepdims=True)
    shares = np.full_like(counts, np.nan)
    np.divide(counts * 100.0, row_sums, out=shares, where=row_sums > 0)
    empty_rows = int(np.sum(row_sums[:, 0] == 0))

    longest = max((len(c) for c in names), default=1)
    long_names = longest > 3
    tick_fs = 8.5 if n <= 12 else (7 if n <= 25 else 5)
    char_in = 0.075 * tick_fs / 9.0
    msize = min(max(0.42 * n + 1.0, 3.0), 7.0)
    left = 0.7 + char_in * longest
    bottom = 0.7 + (0.72 * char_in * longest if long_names else 0.0)
    between = 1.25
    width = left + msize + between + msize + 1.0
    height = _HEADER_H + 0.35 + msize + bottom
    annotate = n <= MAX_ANNOTATED_CLASSES
    cell_fs = 8.5 if n <= 10 else (7 if n <= 20 else 5)

    with figure(width, height) as fig:
        key = "rows: true class · columns: predicted class · diagonal (green outline) = correct"
        if empty_rows:
            key += " · — = no examples of that class"
        _header(fig, width, height, title or "Confusion matrix: counts and shares", accuracy, key)
        panels = [
            ("counts", counts, Normalize(0.0, max(float(counts.max()), 1.0)), "count"),
            ("share of each true class (row %)", shares, Normalize(0.0, 100.0), "% of the row"),
        ]
        for p_i, (panel_title, shown, norm, bar_label) in enumerate(panels):
            x = left + p_i * (msize + between)
            ax = _axes(fig, width, height, x, bottom, msize, msize)
            ax.imshow(shown, cmap=_cmap("Blues"), norm=norm, interpolation="nearest")
            ax.set_xticks(np.arange(n))
            ax.set_yticks(np.arange(n))
            ax.set_xticklabels(
                names,
                fontsize=tick_fs,
                rotation=45 if long_names else 0,
                ha="right" if long_names else "center",
                rotation_mode="anchor",
            )
            if p_i == 0:
                ax.set_yticklabels(names, fontsize=tick_fs)
                ax.set_ylabel("true class")
            else:
                ax.set_yticklabels([])
            ax.set_xlabel("predicted class")
            ax.tick_params(length=0)
            for spine in ax.spines.values():
                spine.set_visible(True)
                spine.set_color(MUTED)
            ax.set_title(panel_title, fontsize=9.5)
            diag = [
                Rectangle((i - 0.5, i - 0.5), 1.0, 1.0, fill=False, edgecolor=GREEN, linewidth=1.2)
                for i in range(n)
            ]
            ax.add_collection(PatchCollection(diag, match_original=True), autolim=False)
            if annotate:
                vmax = float(norm.vmax) if norm.vmax else 1.0
                for i in range(n):
                    for j in range(n):
                        if p_i == 0:
                            text = _count(counts[i, j])
                            value = counts[i, j]
                        elif row_sums[i, 0] > 0:
                            text = f"{shares[i, j]:.0f}%" if n > 10 else f"{shares[i, j]:.1f}%"
                            value = shares[i, j]
                        else:
                            text, value = "—", 0.0
                        ax.text(
                            j,
                            i,
                            text,
                            ha="center",
                            va="center",
                            fontsize=cell_fs,
                            color="white" if value > 0.55 * vmax else INK,
                            fontweight="bold" if i == j else "normal",
                        )
            cax = _axes(fig, width, height, x + msize + 0.12, bottom, 0.12, msize)
            bar = _colorbar(fig, cax, "Blues", norm, bar_label, fontsize=7.5)
            if p_i == 1:
                bar.ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}%"))
        return save(fig, path, dpi=DPI)
