"""Dense layers: first-layer units' weights, activations layer by layer, and the units an
input drives most and least."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.ticker import MaxNLocator

from .._checks import Float, as_finite, as_image, as_named_arrays, at_least_one, three_digits
from .._layout import HEADER_H, MARGIN, add_patches, axes_at, headed_figure, show_ink
from .._style import GREEN, MUTED, PathLike, inch_canvas
from ._common import (
    DIVERGING,
    clean,
    cmap_with_bad,
    colorbar,
    input_tile,
    max_scale_bar,
    save_figure,
    scale,
    sym_norm,
    tiles,
)

#: Layers with more units than this are drawn as a near-square grid, not a strip.
STRIP_LIMIT = 64
#: At most this many units per row in :func:`draw_active_units`.
MAX_ACTIVE_UNITS = 10

_STRIP_H = 0.36  # height in inches of a layer drawn as a 1 × N strip


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
    at_least_one("max_units", max_units)
    w = as_finite(weights, "weights", 3)
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
        vals = as_finite(values, "values", 1)
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
    size, title_h = 0.85, 0.2
    below_h = 0.22 if vals is not None else 0.06
    cell_w, cell_h = size + 0.15, title_h + size + below_h + 0.06
    grid_w = cols * cell_w
    width = max(grid_w + 2 * MARGIN, 6.0)
    foot_h = 0.75  # the colour key under the tiles
    height = HEADER_H + rows * cell_h + foot_h
    left = (width - grid_w) / 2.0 + 0.075

    shown = [w[u] for u in units]
    below = [] if vals is None else [f"act {three_digits(float(v))}" for v in vals]
    subtitle = f"{n} of {n_units} units, each {w.shape[1]}×{w.shape[2]}"
    if len(highlight):
        subtitle += " (highlighted units, in the order given)"
    if n_asked > n:
        subtitle += f" · first {n} of the {n_asked} asked for"
    with headed_figure(
        width,
        height,
        title or "What each first-layer unit looks for",
        subtitle,
        "each tile: one unit's incoming weights · red = ink here excites the unit, "
        "blue = inhibits it",
    ) as fig:
        canvas = inch_canvas(fig, width, height)
        frames = tiles(
            canvas,
            shown,
            left,
            height - HEADER_H - 0.05,
            cols,
            size,
            cell_w,
            cell_h,
            cmap=DIVERGING,
            norms=[sym_norm(t) for t in shown],
            above=[f"unit {u}" for u in units],
            below=below,
            title_h=title_h,
        )
        add_patches(canvas, frames)
        max_scale_bar(
            fig, width, height, 0.42, "weight, each tile on its own scale (± its largest |weight|)"
        )
        return save_figure(fig, path)


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
    named = as_named_arrays(layers, "layers", 1)
    img = None if image is None else as_image(image, "image")

    heat_w = 5.0
    label_h, gap = 0.32, 0.3
    shapes: list[tuple[float, float]] = []  # (w, h) of each heat axes, inches
    for _name, values in named:
        r, c = _as_grid(values).shape
        if r == 1:
            cell = min(0.3, heat_w / c)
            shapes.append((cell * c, _STRIP_H))
        else:
            cell = min(0.15, 2.4 / max(r, c))
            shapes.append((cell * c, cell * r))
    # Strips carry unit-index ticks under them; grids do not.
    rows_h = [label_h + h + (0.22 if h == _STRIP_H else 0.08) + gap for _w, h in shapes]
    img_w = 2.3 if img is not None else 0.0
    x_heat = MARGIN + img_w + 0.1
    width = x_heat + heat_w + 0.95 + 2.0
    content_h = sum(rows_h)
    if img is not None:
        content_h = max(content_h, 2.6)
    height = HEADER_H + content_h + 0.15

    with headed_figure(
        width,
        height,
        title or "Activations, layer by layer",
        "one input's activations: each square is one unit, its colour that unit's value",
        f"layers with more than {STRIP_LIMIT} units are folded into a square grid, "
        "row by row (unit 0 top left) · grey = padding",
    ) as fig:
        if img is not None:
            side = 1.9
            ax_img = axes_at(
                fig, width, height, MARGIN, height - HEADER_H - 0.35 - side, side, side
            )
            show_ink(ax_img, img)
            ax_img.set_title(f"input ({img.shape[0]}×{img.shape[1]})", fontsize=9)
            clean(ax_img)

        top = height - HEADER_H
        for (name, values), (w_in, h_in), row_h in zip(named, shapes, rows_h, strict=True):
            grid = _as_grid(values)
            cmap, norm, signed = scale(values)
            y = top - label_h - h_in
            ax = axes_at(fig, width, height, x_heat, y, w_in, h_in)
            ax.imshow(
                grid, cmap=cmap_with_bad(cmap), norm=norm, interpolation="nearest", aspect="auto"
            )
            clean(ax)
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
            cax = axes_at(fig, width, height, x_heat + w_in + 0.12, y, 0.1, h_in)
            bar = colorbar(fig, cax, cmap, norm, "", fontsize=7)
            if h_in >= 0.8:
                bar.set_label("value" if signed else "activation", fontsize=7)
            bar.locator = MaxNLocator(3)
            bar.update_ticks()
            active = int(np.sum(values > 0))
            fig.text(
                (x_heat + w_in + 0.85) / width,
                (y + h_in / 2) / height,
                f"{active} of {n} active (> 0)\nmax {three_digits(float(values.max()))}"
                f" · min {three_digits(float(values.min()))}",
                fontsize=8.5,
                va="center",
                linespacing=1.3,
            )
            top -= row_h
        return save_figure(fig, path)


def _units(units: Any, name: str) -> list[tuple[int, float, Float]]:
    """``units`` as (unit index, finite activation, finite (H, W) weights) triples."""
    try:
        out = [(int(u), float(a), w) for u, a, w in units]
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a list of (unit index, activation, weights)") from None
    checked = []
    for j, (u, a, w) in enumerate(out):
        if not math.isfinite(a):
            raise ValueError(f"{name}[{j}]: the activation of unit {u} is not finite")
        checked.append((u, a, as_finite(w, f"{name}[{j}] weights", 2)))
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
    img = as_image(image, "image")
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
    x_label = MARGIN + img_side + 0.35
    x_tiles = x_label + 1.0
    width = max(x_tiles + n * cell_w + MARGIN, 6.5)
    height = HEADER_H + max(2 * cell_h, img_side + 0.4) + 0.7  # + the colour key

    with headed_figure(
        width,
        height,
        title or "Which units this input drives",
        "each tile: a unit's incoming weights, titled with the unit and its activation",
        "red = ink here excites the unit, blue = inhibits it · each tile on its own scale",
    ) as fig:
        canvas = inch_canvas(fig, width, height)
        top = height - HEADER_H
        iy = top - 0.3 - img_side
        frames = [input_tile(canvas, img, iy, img_side)]
        canvas.text(
            MARGIN + img_side / 2,
            iy + img_side + 0.06,
            "input",
            ha="center",
            va="bottom",
            fontsize=9,
        )
        for r, (label, units) in enumerate(rows):
            mid = top - r * cell_h - title_h - size / 2
            canvas.text(
                x_label,
                mid,
                label,
                ha="left",
                va="center",
                fontsize=9.5,
                fontweight="bold",
                color=GREEN if r == 0 else MUTED,
            )
            if not units:
                canvas.text(x_tiles, mid, "(none given)", va="center", fontsize=8.5, color=MUTED)
                continue
            weights = [w for _u, _a, w in units]
            frames += tiles(
                canvas,
                weights,
                x_tiles,
                top - r * cell_h,
                len(weights),
                size,
                cell_w,
                cell_h,
                cmap=DIVERGING,
                norms=[sym_norm(t) for t in weights],
                above=[f"unit {u}\nact {three_digits(a)}" for u, a, _w in units],
                title_h=title_h,
            )
        add_patches(canvas, frames)
        max_scale_bar(fig, width, height, 0.4, "weight (± the tile's largest |weight|)")
        return save_figure(fig, path)
