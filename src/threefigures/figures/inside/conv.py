"""Convolution layers: their filters as small images, and the feature maps they compute."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import Colormap, Normalize
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from .._checks import as_image, as_named_arrays, at_least_one
from .._layout import HEADER_H, MARGIN, add_patches, axes_at, headed_figure
from .._style import PathLike, inch_canvas
from ._common import DIVERGING, colorbar, input_tile, save_figure, scale, sym_norm, tiles


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
    canvas.text(MARGIN, top - sec_h / 2, label, fontsize=9, fontweight="bold", va="center")
    frames = tiles(
        canvas,
        list(shown),
        MARGIN,
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
    cax = axes_at(
        fig,
        width,
        height,
        MARGIN + cols * cell_w + 0.15,
        top - sec_h - grid_h + 0.05,
        0.1,
        max(grid_h - 0.1, 0.4),
    )
    colorbar(fig, cax, cmap, norm, bar_label, fontsize=7)
    return frames


def _sections(
    named: list[tuple[str, np.ndarray]], limit: int, col_limit: int
) -> list[tuple[str, tuple[int, ...], np.ndarray, int, int]]:
    """(name, full shape, first ``limit`` tiles, columns, rows) of each layer's section."""
    sections = []
    for name, arr in named:
        shown = arr[:limit]
        cols = min(col_limit, shown.shape[0])
        rows = math.ceil(shown.shape[0] / cols)
        sections.append((name, arr.shape, shown, cols, rows))
    return sections


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
    at_least_one("max_filters", max_filters)
    named = as_named_arrays(layers, "layers", 4)
    size, label_h, sec_h = 0.48, 0.17, 0.34
    cell_w = size + 0.1
    # Each tile is a filter's kernel averaged over its input channels: (out, kh, kw).
    sections = _sections([(name, w.mean(axis=1)) for name, w in named], max_filters, 16)
    max_cols = max(s[3] for s in sections)
    width = max(MARGIN + max_cols * cell_w + 1.2, 6.5)
    cell_h = label_h + size + 0.06
    heights = [sec_h + rows * cell_h + 0.2 for *_rest, rows in sections]
    height = HEADER_H + sum(heights) + 0.1

    with headed_figure(
        width,
        height,
        title or "Convolution filters",
        "each tile: one output filter's kernel, averaged over its input channels",
        "red = positive weight, blue = negative, white = 0 · one scale per layer",
    ) as fig:
        canvas = inch_canvas(fig, width, height)
        frames: list[Rectangle] = []
        top = height - HEADER_H
        for (name, w), section, sec in zip(named, sections, heights, strict=True):
            _name, _shape, shown, cols, rows = section
            out_c, in_c, kh, kw = w.shape
            more = f" (first {shown.shape[0]})" if out_c > shown.shape[0] else ""
            channels = "channel" if in_c == 1 else "channels"
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
                sym_norm(shown),
                "weight",
            )
            top -= sec
        add_patches(canvas, frames)
        return save_figure(fig, path)


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
    at_least_one("max_maps", max_maps)
    img = as_image(image, "image")
    named = as_named_arrays(layers, "layers", 3)
    size, label_h, sec_h = 0.78, 0.16, 0.34
    cell_w, cell_h = size + 0.1, label_h + size + 0.06
    img_side = 1.5
    sections = _sections(named, max_maps, 8)
    max_cols = max(s[3] for s in sections)
    width = max(MARGIN + max_cols * cell_w + 1.25, 6.5)
    heights = [sec_h + rows * cell_h + 0.2 for *_rest, rows in sections]
    input_h = sec_h + img_side + 0.25
    height = HEADER_H + input_h + sum(heights) + 0.1

    with headed_figure(
        width,
        height,
        title or "Feature maps: what each layer computes from the input",
        "each tile: one channel's output (channels × height × width in the row labels)",
        "one colour scale per layer · bright = strong response",
    ) as fig:
        canvas = inch_canvas(fig, width, height)
        top = height - HEADER_H
        canvas.text(
            MARGIN,
            top - sec_h / 2,
            f"input · {img.shape[0]}×{img.shape[1]}",
            fontsize=9,
            fontweight="bold",
            va="center",
        )
        iy = top - sec_h - img_side
        frames = [input_tile(canvas, img, iy, img_side)]
        top -= input_h
        for (name, shape, shown, cols, rows), sec in zip(sections, heights, strict=True):
            c, h, w = shape
            more = f" (first {shown.shape[0]} maps)" if c > shown.shape[0] else ""
            cmap, norm, signed = scale(shown)
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
        add_patches(canvas, frames)
        return save_figure(fig, path)
