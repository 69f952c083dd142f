"""Figure 1: the network as columns of neurons, with its parameter counts and a layer table."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.transforms import Bbox

from ._checks import params_summary
from ._layout import axes_at, page_heading
from ._style import BLUE, FAINT, GREEN, INK, ORANGE, PathLike, figure, save, style_table

#: Layers with more units than this are drawn as a sample with a gap marker.
MAX_DRAWN_UNITS = 12
#: How many neurons of a sampled layer are drawn above and below the gap marker.
SAMPLE_TOP = 5
SAMPLE_BOTTOM = 4

_WIDTH_IN = 10.0
_HEIGHT_IN = 7.0
_HEADER_IN = 1.05
_ROW_IN = 0.24

_ACTIVATION_NAMES = {
    "relu": "ReLU",
    "leaky_relu": "leaky ReLU",
    "gelu": "GELU",
    "elu": "ELU",
    "selu": "SELU",
    "silu": "SiLU",
    "sigmoid": "sigmoid",
    "tanh": "tanh",
    "softmax": "softmax",
    "log_softmax": "log-softmax",
    "linear": "linear",
    "identity": "linear",
}


@dataclass(frozen=True)
class LayerSpec:
    """One layer of a fully connected network, as Figure 1 draws it.

    Attributes:
        name: What the layer is called in the figure and table ("Input", "Hidden 1", "Output").
        units: Number of neurons in the layer (at least 1).
        activation: Activation applied by the layer ("relu", "softmax", ...); ``None`` for the
            input layer.
        params: Number of parameters (weights and biases) of the connections *into* this layer;
            0 for the input layer.
    """

    name: str
    units: int
    activation: str | None
    params: int


def _check(layers: Sequence[LayerSpec]) -> None:
    if len(layers) == 0:
        raise ValueError("draw_structure needs at least one layer")
    for layer in layers:
        if layer.units < 1:
            raise ValueError(f"layer {layer.name!r} has {layer.units} units; it needs at least 1")
        if layer.params < 0:
            raise ValueError(f"layer {layer.name!r} has a negative parameter count {layer.params}")


def _slots(units: int) -> tuple[int, list[int], int | None]:
    """Return (number of vertical slots, slot indices holding neurons, slot of the gap marker)."""
    if units <= MAX_DRAWN_UNITS:
        return units, list(range(units)), None
    total = SAMPLE_TOP + 1 + SAMPLE_BOTTOM
    drawn = list(range(SAMPLE_TOP)) + list(range(SAMPLE_TOP + 1, total))
    return total, drawn, SAMPLE_TOP


def _slot_y(slot: int, n_slots: int) -> float:
    return (n_slots - 1) / 2.0 - slot


def _count_label(index: int, layer: LayerSpec) -> str:
    if layer.activation is None:
        if index == 0:
            noun = "input" if layer.units == 1 else "inputs"
            return f"{layer.units:,} {noun}"
        return f"{layer.units:,} linear"
    act = _ACTIVATION_NAMES.get(layer.activation.lower(), layer.activation)
    return f"{layer.units:,} {act}"


def _colours(index: int, n_layers: int) -> tuple[str, str]:
    if index == 0:
        return "#dbe8f6", BLUE
    if index == n_layers - 1 and n_layers > 1:
        return "#d7efe1", GREEN
    return "#fbe3cf", ORANGE


def _draw_diagram(ax: Axes, layers: Sequence[LayerSpec], fig: Figure) -> None:
    n = len(layers)
    layouts = [_slots(layer.units) for layer in layers]
    span = max(max(n_slots for n_slots, _, _ in layouts), 8)
    x_lo, x_hi = -0.65, (n - 1) + 0.65
    y_lo, y_hi = -span / 2.0 - 1.5, span / 2.0 + 1.1
    ax.set_xlim(x_lo, x_hi)
    ax.set_ylim(y_lo, y_hi)
    ax.set_axis_off()

    # Marker size from the axes' physical size, so circles never overlap whatever the layout.
    bbox = ax.get_position()
    ax_w_pt = bbox.width * fig.get_figwidth() * 72.0
    ax_h_pt = bbox.height * fig.get_figheight() * 72.0
    per_y = ax_h_pt / (y_hi - y_lo)
    per_x = ax_w_pt / (x_hi - x_lo)
    diameter = min(0.62 * per_y, 0.22 * per_x, 22.0)
    marker_area = diameter**2

    columns: list[list[float]] = []
    for (n_slots, drawn, _gap), _layer in zip(layouts, layers, strict=True):
        columns.append([_slot_y(s, n_slots) for s in drawn])

    # Connections between the drawn neurons of adjacent layers.
    segments = [
        [(i - 1.0, y0), (float(i), y1)]
        for i in range(1, n)
        for y0 in columns[i - 1]
        for y1 in columns[i]
    ]
    if segments:
        ax.add_collection(
            LineCollection(segments, colors=FAINT, linewidths=0.45, alpha=0.7, zorder=1)
        )

    band_fs = 8.0 if n <= 5 else (7.0 if n <= 6 else 6.5)
    for i, layer in enumerate(layers):
        face, edge = _colours(i, n)
        ys = columns[i]
        ax.scatter(
            [float(i)] * len(ys),
            ys,
            s=marker_area,
            facecolors=face,
            edgecolors=edge,
            linewidths=1.1,
            zorder=3,
        )
        n_slots, _drawn, gap = layouts[i]
        if gap is not None:
            gy = _slot_y(gap, n_slots)
            ax.scatter([float(i)] * 3, [gy - 0.28, gy, gy + 0.28], s=5, color=INK, zorder=3)
        ax.text(
            i,
            span / 2.0 + 0.55,
            layer.name,
            ha="center",
            va="bottom",
            fontsize=9.5,
            fontweight="bold",
        )
        ax.text(
            i,
            -span / 2.0 - 0.45,
            _count_label(i, layer),
            ha="center",
            va="top",
            fontsize=9,
            color=edge,
            fontweight="bold",
        )
        if i > 0:
            ax.text(
                i - 0.5,
                0.0,
                f"{layer.params:,}\nweights+biases",
                ha="center",
                va="center",
                fontsize=band_fs,
                color=INK,
                linespacing=1.15,
                zorder=4,
                bbox={
                    "boxstyle": "round,pad=0.25",
                    "facecolor": "white",
                    "edgecolor": FAINT,
                    "alpha": 0.92,
                },
            )


def _draw_table(ax: Axes, layers: Sequence[LayerSpec]) -> None:
    ax.set_axis_off()
    rows = [[layer.name, f"{layer.units:,}"] for layer in layers]
    table = ax.table(
        cellText=rows,
        colLabels=["Layer", "Number of Neurons"],
        cellLoc="center",
        bbox=Bbox.from_bounds(0.0, 0.0, 1.0, 1.0),
    )
    table.auto_set_font_size(False)
    table.set_fontsize(9)
    style_table(table)


def draw_structure(
    layers: Sequence[LayerSpec],
    path: PathLike,
    *,
    title: str = "Figure 1 — the network",
    subtitle: str | None = None,
    dpi: int = 150,
) -> Path:
    """Draw the network as columns of neurons and save it; return the path written.

    Each layer is a column of circles, left to right. Layers with more than
    :data:`MAX_DRAWN_UNITS` units are drawn as a sample (a few neurons, a vertical ellipsis, a few
    more) with the true count written underneath. Adjacent columns are joined by thin lines and
    the band between them carries the parameter count of the connections into the right-hand
    layer. The total parameter count is printed under the title, and a "Layer | Number of
    Neurons" table sits beneath the diagram.

    Args:
        layers: The layers, input first. Any number of hidden layers is accepted.
        path: Where to write the image; the format follows the suffix (PNG by default).
        title: Bold heading at the top of the figure.
        subtitle: Optional line under the title (e.g. the dataset or run id).
        dpi: Resolution of the written image.

    Raises:
        ValueError: If there are no layers, a layer has fewer than 1 unit or a negative count.
    """
    _check(layers)
    total = sum(layer.params for layer in layers)
    n_rows = len(layers) + 1
    table_h = _ROW_IN * n_rows
    bottom = 0.3
    diagram_bottom = bottom + table_h + 0.3
    diagram_top = _HEIGHT_IN - _HEADER_IN

    summary = f"{params_summary(total)} (weights + biases)"

    with figure(_WIDTH_IN, _HEIGHT_IN) as fig:
        page_heading(fig, _WIDTH_IN, _HEIGHT_IN, title, summary, subtitle=subtitle)
        diagram_h = diagram_top - diagram_bottom
        ax = axes_at(fig, _WIDTH_IN, _HEIGHT_IN, 0.3, diagram_bottom, _WIDTH_IN - 0.6, diagram_h)
        _draw_diagram(ax, layers, fig)

        table_w = 4.2
        table_x = (_WIDTH_IN - table_w) / 2
        _draw_table(axes_at(fig, _WIDTH_IN, _HEIGHT_IN, table_x, bottom, table_w, table_h), layers)
        return save(fig, path, dpi)
