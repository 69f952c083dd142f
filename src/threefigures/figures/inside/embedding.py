"""Embeddings: how the classes separate, layer by layer, in a 2-D projection."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib import colormaps
from matplotlib.lines import Line2D

from .._checks import Float, as_class_indices, as_finite, as_names
from .._layout import HEADER_H, MARGIN, axes_at, headed_figure
from .._style import PathLike, truncate
from ._common import clean, save_figure


def _class_colours(n: int) -> list[Any]:
    """``n`` distinct colours: tab10, tab20, then evenly spaced along turbo."""
    if n <= 10:
        return [colormaps["tab10"](i) for i in range(n)]
    if n <= 20:
        return [colormaps["tab20"](i) for i in range(n)]
    return [colormaps["turbo"](i / max(n - 1, 1)) for i in range(n)]


def _panels(layers: Any) -> list[tuple[str, Float, float | None]]:
    """``layers`` as (name, finite (N, 2) coordinates, finite score or None), one N for all."""
    try:
        items = [(str(name), coords, score) for name, coords, score in layers]
    except (TypeError, ValueError):
        raise ValueError("layers must be a list of (name, (N, 2) coordinates, score)") from None
    if not items:
        raise ValueError("layers is empty")
    panels: list[tuple[str, Float, float | None]] = []
    n_points: int | None = None
    for i, (name, coords, score) in enumerate(items):
        xy = as_finite(coords, f"layers[{i}] ({name!r}) coordinates", 2)
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
    return panels


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
    names = as_names(classes, "classes")
    panels = _panels(layers)
    n_points = panels[0][1].shape[0]
    y = as_class_indices(labels, "labels", n_points, len(names), "points")
    method_name = str(method).strip() or "projection"

    n_panels = len(panels)
    cols = n_panels if n_panels <= 4 else math.ceil(n_panels / 2)
    rows = 1 if n_panels <= 4 else 2
    side, title_h, label_h = 2.6, 0.4, 0.3
    legend_rows = math.ceil(len(names) / 10)
    legend_h = 0.25 + 0.22 * legend_rows
    width = max(2 * MARGIN + cols * (side + 0.35), 6.5)
    height = HEADER_H + rows * (title_h + side + label_h) + legend_h
    colours = _class_colours(len(names))
    point_colours = np.array([colours[k] for k in y])
    order = np.random.default_rng(0).permutation(n_points)  # no class painted over the rest
    size = 10.0 if n_points <= 500 else (5.0 if n_points <= 3000 else 2.0)
    x0 = (width - cols * (side + 0.35)) / 2.0 + 0.3

    with headed_figure(
        width,
        height,
        title or "How the classes separate, layer by layer",
        f"{n_points} examples, each layer projected to 2-D with {method_name}, "
        "coloured by true class",
        "separation = silhouette score in the layer's full space (−1 … 1; "
        "higher = classes further apart)",
    ) as fig:
        for i, (name, xy, score) in enumerate(panels):
            r, c = divmod(i, cols)
            bottom = height - HEADER_H - (r + 1) * (title_h + side + label_h) + label_h
            ax = axes_at(fig, width, height, x0 + c * (side + 0.35), bottom, side, side)
            ax.scatter(
                xy[order, 0],
                xy[order, 1],
                c=point_colours[order],
                s=size,
                linewidths=0,
                alpha=0.75,
            )
            clean(ax, linewidth=None)
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
        return save_figure(fig, path)
