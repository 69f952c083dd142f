"""Figure 1 for networks that are not plain MLPs: the network as blocks, left to right.

Feature maps are stacks of sheets (height from H, depth from C), dense layers narrow bars,
sequences strips of time steps, and recurrent layers a box with a self-loop. A
"Layer | Output shape | Parameters" table sits underneath.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.transforms import Bbox

from ._block_shapes import (
    arrow,
    block_labels,
    feature_map,
    log_scale,
    recurrent_cell,
    root_scale,
    step_columns,
    vector_bar,
)
from ._checks import params_summary
from ._layout import axes_at, page_heading
from ._style import (
    BLUE,
    GREEN,
    MUTED,
    ORANGE,
    PathLike,
    figure,
    inch_canvas,
    save,
    style_table,
    truncate,
)

_WIDTH_IN = 12.0
_MIN_HEIGHT_IN = 6.5
_HEADER_IN = 1.05
_MIN_DIAGRAM_IN = 3.2
_ROW_IN = 0.21
_BOTTOM_IN = 0.3
_GAP_IN = 0.25
_SIDE_IN = 0.4
#: Widest slot one block gets, so 3 blocks do not sprawl across the page.
_MAX_SLOT_IN = 2.1
#: Share of its slot a block's drawing may fill; the rest is left for the arrows.
_FILL = 0.6
#: Room above the drawings for the names, and below them for the shape/params/detail labels.
_NAME_IN = 0.36
_LABEL_IN = 1.0
_MIN_H_IN = 0.2
#: At most this many sheets show a map's channels, and columns a sequence's steps.
_MAX_SHEETS = 8
_MAX_STEPS = 7
_TABLE_W_IN = 6.0
_TABLE_NAME_CHARS = 28

#: (face, edge) colour of each kind of block.
_COLOURS = {
    "input": ("#dbe8f6", BLUE),
    "conv": ("#fbe3cf", ORANGE),
    "pool": ("#ebe2f4", "#7e57a8"),
    "norm": ("#eef2f6", MUTED),
    "dense": ("#fbe3cf", ORANGE),
    "recurrent": ("#d5eeec", "#1d7f7a"),
    "embedding": ("#f7ecd0", "#a8741a"),
    "output": ("#d7efe1", GREEN),
    "other": ("#eef2f6", MUTED),
}


@dataclass(frozen=True)
class BlockSpec:
    """One block of a network, as the block diagram draws it.

    Attributes:
        name: What the block is called in the figure and table ("input", "conv1", "lstm", …).
        kind: "input", "conv", "pool", "norm", "dense", "recurrent", "embedding", "output" or
            anything else (drawn in grey by its shape). Common synonyms are understood:
            "maxpool"/"avgpool", "linear"/"fc", "lstm"/"gru"/"rnn", "embed".
        out_shape: Shape of one example's output: (C, H, W) for feature maps, (units,) for
            vectors, (T, features) for sequences.
        params: Trainable numbers in the block (0 for input and pooling).
        detail: Short note written under the block, e.g. "3×3, BN, ReLU" or "max 2×2".
    """

    name: str
    kind: str
    out_shape: tuple[int, ...]
    params: int
    detail: str = ""


def _kind(block: BlockSpec, index: int, n: int) -> str:
    """The block's kind folded onto the drawing families (colour and, for "recurrent", shape)."""
    kind = block.kind.strip().lower()
    if kind == "input":
        return "input"
    if kind == "output" or (index == n - 1 and n > 1 and block.name.lower().startswith("out")):
        return "output"
    if kind.startswith("conv"):
        return "conv"
    if "pool" in kind:
        return "pool"
    if "norm" in kind:
        return "norm"
    if kind in {"dense", "linear", "fc", "fully_connected", "fully connected", "mlp"}:
        return "dense"
    if kind in {"recurrent", "lstm", "gru", "rnn"}:
        return "recurrent"
    if kind.startswith("embed"):
        return "embedding"
    return "other"


def _check(blocks: Sequence[BlockSpec]) -> None:
    if len(blocks) == 0:
        raise ValueError("draw_blocks needs at least one block")
    for block in blocks:
        shape = tuple(block.out_shape)
        if not 1 <= len(shape) <= 3:
            raise ValueError(
                f"block {block.name!r} has out_shape {shape}; use (C, H, W), (units,) or "
                "(T, features)"
            )
        if any(not isinstance(d, int) or isinstance(d, bool) or d < 1 for d in shape):
            raise ValueError(
                f"block {block.name!r} has out_shape {shape}; every size must be a whole number ≥ 1"
            )
        if block.params < 0:
            raise ValueError(f"block {block.name!r} has a negative parameter count {block.params}")


def _shape_text(shape: tuple[int, ...]) -> str:
    return "×".join(str(d) for d in shape)


def _params_text(params: int) -> str:
    if params == 0:
        return "no params"
    return f"{params:,} param" + ("" if params == 1 else "s")


@dataclass
class _Layout:
    """Where one block's drawing sits, in inches on the canvas."""

    kind: str
    left: float
    width: float
    shape_line: str
    notes: list[str]


def _layouts(
    blocks: Sequence[BlockSpec], slot: float, x0: float, graphic_h: float
) -> tuple[list[_Layout], dict[str, float]]:
    """Decide every block's size and label lines; return them with the shared scales."""
    n = len(blocks)
    maps = [b.out_shape for b in blocks if len(b.out_shape) == 3]
    h_top = max((max(s[1], s[2]) for s in maps), default=1)
    c_top = max((s[0] for s in maps), default=1)
    vec_top = max((b.out_shape[-1] for b in blocks if len(b.out_shape) < 3), default=1)
    max_w = _FILL * slot
    depth_max = min(0.45, 0.34 * max_w) if c_top > 1 else 0.0
    scales = {"h_top": h_top, "c_top": c_top, "vec_top": vec_top, "depth_max": depth_max}

    out: list[_Layout] = []
    for i, block in enumerate(blocks):
        kind = _kind(block, i, n)
        shape = tuple(block.out_shape)
        notes: list[str] = []
        if kind == "recurrent":
            prev = blocks[i - 1].out_shape if i > 0 else ()
            steps = shape[0] if len(shape) == 2 else (prev[0] if len(prev) == 2 else None)
            size = shape[-1]
            noun = "step" if steps == 1 else "steps"
            shape_line = f"{steps} {noun} × {size:,}" if steps else f"{size:,} units"
            width = min(0.62, max_w)
            notes.append("same weights\nat every step")
        elif len(shape) == 3:
            c, _hh, ww = shape
            depth = depth_max * (math.log2(c) / math.log2(c_top) if c_top > 1 else 0.0)
            # The face is drawn foreshortened: its width is a share of what its height would be.
            fw = 0.45 * root_scale(ww, h_top, _MIN_H_IN, graphic_h - 0.55 * depth_max)
            fw = min(fw, max_w - depth_max)
            width = fw + depth
            shape_line = _shape_text(shape)
        elif len(shape) == 2:
            steps, feats = shape
            cols = min(steps, _MAX_STEPS)
            col_w = min(0.09, max_w / (cols * 1.35))
            width = col_w * (1.35 * (cols - 1) + 1.0)
            noun = "step" if steps == 1 else "steps"
            # many blocks leave little room under each: "128×384" instead of the words
            shape_line = f"{steps}×{feats:,}" if n > 8 else f"{steps} {noun} × {feats:,}"
        else:
            width = min(0.17, 0.3 * max_w)
            units = shape[0]
            if kind == "input":
                shape_line = f"{units:,} input" + ("" if units == 1 else "s")
            else:
                shape_line = f"{units:,} unit" + ("" if units == 1 else "s")
        if block.detail:
            notes.append(block.detail)
        out.append(_Layout(kind, x0 + (i + 0.5) * slot - width / 2.0, width, shape_line, notes))
    return out, scales


def _draw_diagram(ax: Axes, blocks: Sequence[BlockSpec], bottom: float, top: float) -> None:
    n = len(blocks)
    slot = min((_WIDTH_IN - 2 * _SIDE_IN) / n, _MAX_SLOT_IN)
    x0 = (_WIDTH_IN - slot * n) / 2.0
    g_top = top - _NAME_IN
    g_bottom = bottom + _LABEL_IN
    graphic_h = g_top - g_bottom
    mid = (g_top + g_bottom) / 2.0
    layouts, scales = _layouts(blocks, slot, x0, graphic_h)
    h_top, c_top, vec_top = int(scales["h_top"]), int(scales["c_top"]), int(scales["vec_top"])
    depth_max = scales["depth_max"]

    for i, (block, lay) in enumerate(zip(blocks, layouts, strict=True)):
        face, edge = _COLOURS[lay.kind]
        shape = tuple(block.out_shape)
        cx = x0 + (i + 0.5) * slot
        if lay.kind == "recurrent":
            h = max(0.5, log_scale(shape[-1], vec_top, 0.5, 0.75 * graphic_h - 0.35))
            recurrent_cell(ax, lay.left, mid, h, lay.width, face, edge)
        elif len(shape) == 3:
            c, hh, _ww = shape
            depth = depth_max * (math.log2(c) / math.log2(c_top) if c_top > 1 else 0.0)
            h = root_scale(hh, h_top, _MIN_H_IN, graphic_h - 0.55 * depth_max)
            fw = lay.width - depth
            sheets = max(1, min(_MAX_SHEETS, 1 + round(math.log2(c))))
            feature_map(ax, lay.left, mid, h, fw, depth, sheets, face, edge)
        elif len(shape) == 2:
            steps, feats = shape
            cols = min(steps, _MAX_STEPS)
            col_w = lay.width / (1.35 * (cols - 1) + 1.0)
            h = log_scale(feats, vec_top, _MIN_H_IN, 0.85 * graphic_h)
            step_columns(ax, lay.left, mid, h, cols, col_w, face, edge)
            if steps > cols:
                ax.text(
                    lay.left + lay.width + 0.03,
                    mid - h / 2.0,
                    "…",
                    ha="left",
                    va="bottom",
                    fontsize=8,
                    color=edge,
                )
        else:
            h = log_scale(shape[0], vec_top, 0.3, 0.85 * graphic_h)
            vector_bar(ax, lay.left, mid, h, lay.width, face, edge)

        params_line = _params_text(block.params)
        block_labels(
            ax, cx, top, g_bottom, block.name, lay.shape_line, params_line, lay.notes, edge, slot
        )

    # Arrows between neighbours, with "flatten" where a map becomes a vector.
    for i in range(n - 1):
        a, b = layouts[i], layouts[i + 1]
        x_start, x_end = a.left + a.width + 0.07, b.left - 0.07
        shape = blocks[i].out_shape
        if len(shape) == 2 and a.kind != "recurrent" and shape[0] > _MAX_STEPS:
            x_start += 0.1  # clear the "…" after a sequence strip
        if x_end - x_start < 0.08:
            continue
        arrow(ax, x_start, x_end, mid)
        flatten = len(shape) == 3 and len(blocks[i + 1].out_shape) == 1
        if flatten and x_end - x_start >= 0.32:
            ax.text(
                (x_start + x_end) / 2.0,
                mid - 0.06,
                "flatten",
                ha="center",
                va="top",
                fontsize=6.5,
                color=MUTED,
            )


def _draw_table(ax: Axes, blocks: Sequence[BlockSpec], total: int) -> None:
    ax.set_axis_off()
    rows = [
        [truncate(b.name, _TABLE_NAME_CHARS), _shape_text(tuple(b.out_shape)), f"{b.params:,}"]
        for b in blocks
    ]
    rows.append(["Total", "", f"{total:,}"])
    table = ax.table(
        cellText=rows,
        colLabels=["Layer", "Output shape", "Parameters"],
        cellLoc="center",
        bbox=Bbox.from_bounds(0.0, 0.0, 1.0, 1.0),
    )
    table.auto_set_font_size(False)
    table.set_fontsize(8.5)
    style_table(table, bold_last_row=True)


def draw_blocks(
    blocks: Sequence[BlockSpec],
    path: PathLike,
    *,
    title: str = "Figure 1 — the network",
    subtitle: str | None = None,
    dpi: int = 150,
    trainable: int | None = None,
) -> Path:
    """Draw the network as blocks, left to right, and save it; return the path written.

    Feature maps (C, H, W) are stacks of offset sheets: the height grows with H on a log scale
    (so 28 and 1 are both visible) and the number and depth of the sheets with C. Vectors
    (units,) are narrow bars, sequences (T, features) a strip of time-step columns, and
    recurrent blocks a box with a self-loop (the same weights at every step). Each block is
    labelled with its name, shape and parameter count; arrows join neighbours. The total
    parameter count is printed under the title, and a "Layer | Output shape | Parameters"
    table sits beneath the diagram. Reads well for 3 to 12 blocks.

    Args:
        blocks: The blocks, input first.
        path: Where to write the image; the format follows the suffix (PNG by default).
        title: Bold heading at the top of the figure.
        subtitle: Optional line under the title (e.g. the dataset or run id).
        dpi: Resolution of the written image.
        trainable: How many of the parameters training changes, when not all (a frozen
            pretrained encoder): the summary line then says so.

    Raises:
        ValueError: If there are no blocks, a shape is not 1 to 3 positive sizes, or a
            parameter count is negative.
    """
    _check(blocks)
    n = len(blocks)
    total = sum(b.params for b in blocks)
    table_h = _ROW_IN * (n + 2)
    height = max(_MIN_HEIGHT_IN, _HEADER_IN + _MIN_DIAGRAM_IN + _GAP_IN + table_h + _BOTTOM_IN)
    diagram_top = height - _HEADER_IN
    diagram_bottom = _BOTTOM_IN + table_h + _GAP_IN

    summary = params_summary(total)
    if trainable is not None and 0 <= trainable < total:
        summary = f"{total:,} parameters in total, {trainable:,} of them trained (the rest frozen)"
    biggest = max(blocks, key=lambda b: b.params)
    if total > 0 and sum(1 for b in blocks if b.params > 0) > 1:
        share = biggest.params / total
        if share >= 0.5:
            summary += f" · {share:.0%} of them in {biggest.name}"

    with figure(_WIDTH_IN, height) as fig:
        page_heading(fig, _WIDTH_IN, height, title, summary, subtitle=subtitle)
        canvas = inch_canvas(fig, _WIDTH_IN, height)
        _draw_diagram(canvas, blocks, diagram_bottom, diagram_top)

        table_x = (_WIDTH_IN - _TABLE_W_IN) / 2
        tax = axes_at(fig, _WIDTH_IN, height, table_x, _BOTTOM_IN, _TABLE_W_IN, table_h)
        _draw_table(tax, blocks, total)
        return save(fig, path, dpi)
