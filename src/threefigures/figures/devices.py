"""The CPU-versus-GPU figure: training throughput by device and batch size, from measured runs."""

from __future__ import annotations

import math
import numbers
import re
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from matplotlib.axes import Axes
from matplotlib.lines import Line2D
from matplotlib.ticker import FixedLocator, FuncFormatter, LogLocator, NullFormatter, NullLocator

from ._style import BLUE, FAINT, GREEN, INK, MUTED, ORANGE, RED, PathLike, figure, save, truncate

_PANEL_W = 3.7
_PANEL_GAP = 0.75
_LEFT = 0.85
_RIGHT = 0.35
#: Room between the legend and the top of the panels (panel titles live here).
_HEADER = 0.65
_PLOT_H = 3.0
_XLABEL = 0.55
_NOTE_LINE = 0.2
_MIN_WIDTH = 6.5

#: Models drawn first, in this order; any others follow alphabetically.
MODEL_ORDER = ("mlp", "cnn", "rnn")
_MODEL_NAMES = {"mlp": "MLP", "cnn": "CNN", "rnn": "RNN"}
_PALETTE = (BLUE, ORANGE, GREEN, RED, "#7e57a8", MUTED)
_MARKERS = ("o", "s", "^", "D", "v", "P")
_REQUIRED = ("model", "device", "batch_size", "samples_per_s")
#: Device names are shortened to this many characters in the legend and panel notes.
_DEVICE_LIMIT = 40


@dataclass(frozen=True)
class _Point:
    model: str
    device: str
    batch: int
    rate: float
    ms: float | None


def _positive(row: Mapping[str, Any], key: str, index: int) -> float:
    value = row[key]
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"row {index}: {key} must be a number, got {value!r}")
    out = float(value)
    if not math.isfinite(out) or out <= 0:
        raise ValueError(f"row {index}: {key} must be a positive finite number, got {value!r}")
    return out


def _points(rows: Sequence[Mapping[str, Any]]) -> list[_Point]:
    if len(rows) == 0:
        raise ValueError("draw_device_bench needs at least one row of measurements")
    points: list[_Point] = []
    seen: set[tuple[str, str, int]] = set()
    for i, row in enumerate(rows):
        if not isinstance(row, Mapping):
            raise ValueError(f"row {i} must be a dict, got {type(row).__name__}")
        missing = [key for key in _REQUIRED if key not in row]
        if missing:
            raise ValueError(f"row {i} lacks {', '.join(missing)}; each row needs {_REQUIRED}")
        model, device = str(row["model"]).strip(), str(row["device"]).strip()
        if not model or not device:
            raise ValueError(f"row {i}: model and device must be non-empty")
        batch = row["batch_size"]
        if isinstance(batch, bool) or not isinstance(batch, numbers.Integral) or batch < 1:
            raise ValueError(f"row {i}: batch_size must be a whole number ≥ 1, got {batch!r}")
        rate = _positive(row, "samples_per_s", i)
        ms = _positive(row, "ms_per_step", i) if row.get("ms_per_step") is not None else None
        key = (model.lower(), device, int(batch))
        if key in seen:
            raise ValueError(
                f"row {i} repeats model {model!r}, device {device!r}, batch size {int(batch)}; "
                "give one measurement per combination (e.g. the median of repeats)"
            )
        seen.add(key)
        points.append(_Point(model.lower(), device, int(batch), rate, ms))
    return points


def _device_order(devices: Sequence[str]) -> list[str]:
    """CPUs first (fewest threads first), then GPUs, then the rest; ties by first appearance."""

    def key(item: tuple[int, str]) -> tuple[int, float, int]:
        first, name = item
        low = name.lower()
        threads = re.search(r"(\d+)\s*thread", low)
        if low.startswith("cpu"):
            return (0, float(threads.group(1)) if threads else math.inf, first)
        if low.startswith(("cuda", "gpu", "mps", "xpu")):
            return (1, 0.0, first)
        return (2, 0.0, first)

    unique = list(dict.fromkeys(devices))
    return [name for _, name in sorted(enumerate(unique), key=key)]


def _model_order(models: Sequence[str]) -> list[str]:
    unique = set(models)
    known = [m for m in MODEL_ORDER if m in unique]
    return known + sorted(unique - set(MODEL_ORDER))


def _model_name(model: str) -> str:
    return _MODEL_NAMES.get(model, model.upper() if len(model) <= 4 else model)


def _short(device: str) -> str:
    """A long device name without its parenthesised detail: "cuda (NVIDIA H100 …)" → "cuda"."""
    if len(device) <= 16:
        return device
    return truncate(device.split(" (")[0], 16)


def _rate_text(value: float, _pos: object = None) -> str:
    if value >= 1e6:
        return f"{value / 1e6:g}M"
    if value >= 1e3:
        return f"{value / 1e3:g}k"
    return f"{value:g}"


def _ms_text(ms: float) -> str:
    if ms >= 100:
        return f"{ms:,.0f} ms"
    if ms >= 10:
        return f"{ms:.1f} ms"
    return f"{ms:.2f} ms"


def _spread(values: list[float], gap: float, lo: float, hi: float) -> list[float]:
    """Move sorted-able positions apart so neighbours are at least ``gap``, inside [lo, hi]."""
    order = sorted(range(len(values)), key=lambda k: values[k])
    placed = [values[k] for k in order]
    for k in range(1, len(placed)):
        placed[k] = max(placed[k], placed[k - 1] + gap)
    overflow = placed[-1] - hi if placed else 0.0
    if overflow > 0:
        placed = [v - overflow for v in placed]
    for k in range(len(placed) - 2, -1, -1):
        placed[k] = min(placed[k], placed[k + 1] - gap)
    placed = [max(v, lo) for v in placed]
    out = [0.0] * len(values)
    for k, idx in enumerate(order):
        out[idx] = placed[k]
    return out


def _draw_panel(
    ax: Axes,
    model: str,
    points: list[_Point],
    devices: list[str],
    colours: dict[str, str],
    markers: dict[str, str],
    height_pt: float,
) -> None:
    batches = sorted({p.batch for p in points})
    rates = [p.rate for p in points]
    lo_b, hi_b = batches[0], batches[-1]
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    # Room on the right for the ms-per-step labels at each line's last point.
    ax.set_xlim(lo_b / 2**0.35, hi_b * 2 ** (0.35 + 0.32 * max(math.log2(hi_b / lo_b), 2.0)))
    y_lo, y_hi = min(rates), max(rates)
    pad = max(math.log10(y_hi / y_lo) * 0.12, 0.15)
    ax.set_ylim(y_lo / 10**pad, y_hi * 10**pad)

    ax.xaxis.set_major_locator(FixedLocator(batches))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
    ax.xaxis.set_minor_locator(NullLocator())
    decades = math.log10(y_hi / y_lo) + 2 * pad
    subs = (
        (1.0,)
        if decades > 3
        else ((1.0, 2.0, 5.0) if decades > 1 else (1.0, 1.5, 2.0, 3.0, 5.0, 7.0))
    )
    ax.yaxis.set_major_locator(LogLocator(base=10, subs=subs))
    ax.yaxis.set_major_formatter(FuncFormatter(_rate_text))
    ax.yaxis.set_minor_locator(NullLocator())
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.grid(True, which="major", color=FAINT, linewidth=0.5)
    ax.set_axisbelow(True)
    ax.set_xlabel("batch size")

    ends: list[tuple[str, float, float, float | None]] = []
    for device in devices:
        mine = sorted((p for p in points if p.device == device), key=lambda p: p.batch)
        if not mine:
            continue
        ax.plot(
            [p.batch for p in mine],
            [p.rate for p in mine],
            color=colours[device],
            marker=markers[device],
            markersize=5,
            linewidth=1.6,
            zorder=3,
        )
        last = mine[-1]
        ends.append((device, float(last.batch), last.rate, last.ms))

    # ms-per-step labels at the line ends, nudged apart so they never overlap.
    labelled = [e for e in ends if e[3] is not None]
    if labelled:
        span = math.log10(ax.get_ylim()[1] / ax.get_ylim()[0])
        gap = span * 11.0 / height_pt
        ys = _spread(
            [math.log10(e[2]) for e in labelled],
            gap,
            math.log10(ax.get_ylim()[0]) + gap / 2,
            math.log10(ax.get_ylim()[1]) - gap / 2,
        )
        for (device, bx, _rate, ms), y in zip(labelled, ys, strict=True):
            assert ms is not None
            ax.text(
                bx * 2**0.25,
                10**y,
                f"{_ms_text(ms)}/step",
                ha="left",
                va="center",
                fontsize=7.5,
                color=colours[device],
                fontweight="bold",
            )

    ax.set_title(_model_name(model), fontsize=11, fontweight="bold", loc="left", pad=16)
    # How much faster the fastest device is than the slowest, at the largest shared batch size.
    per_device = {d: {p.batch: p.rate for p in points if p.device == d} for d in devices}
    present = [d for d in devices if per_device[d]]
    shared = set.intersection(*(set(per_device[d]) for d in present)) if present else set()
    if len(present) > 1 and shared:
        b = max(shared)
        fast = max(present, key=lambda d: per_device[d][b])
        slow = min(present, key=lambda d: per_device[d][b])
        ratio = per_device[fast][b] / per_device[slow][b]
        times = f"{ratio:.0f}×" if ratio >= 10 else f"{ratio:.1f}×"
        text = f"batch {b}: {_short(fast)} {times} faster than {_short(slow)}"
        ax.text(
            0.0,
            1.025,
            truncate(text, 60),
            transform=ax.transAxes,
            ha="left",
            va="bottom",
            fontsize=7.5,
            color=MUTED,
        )


def draw_device_bench(
    rows: Sequence[Mapping[str, Any]],
    path: PathLike,
    *,
    title: str = "Time per training step by device",
    note: str = "",
    dpi: int = 150,
) -> Path:
    """Draw measured training throughput per device and batch size and save it; return the path.

    One panel per model (MLP, CNN, RNN first, others after). In each, x is the batch size on a
    log2 axis and y the samples per second on a log axis, with one line per device (CPUs first,
    then GPUs). The last point of each line is labelled with its milliseconds per step, and a
    line above each panel says how many times faster the fastest device is than the slowest at
    the largest batch size they share. ``note`` is printed as a caption under the panels.

    Args:
        rows: One dict per measurement: ``model`` ("mlp", "cnn", "rnn", …), ``device`` (e.g.
            "cpu (1 thread)", "cuda (NVIDIA H100)"), ``batch_size`` (int), ``samples_per_s``
            (float) and, optionally, ``ms_per_step`` (float).
        path: Where to write the image; the format follows the suffix (PNG by default).
        title: Bold heading at the top of the figure.
        note: Caption under the panels, e.g. "no GPU on this machine: comparing 1 and 2 CPU
            threads".
        dpi: Resolution of the written image.

    Raises:
        ValueError: If there are no rows, a row lacks a key or holds a non-positive number, or
            two rows measure the same model, device and batch size.
    """
    points = _points(rows)
    models = _model_order([p.model for p in points])
    devices = _device_order([p.device for p in points])
    colours = {d: _PALETTE[i % len(_PALETTE)] for i, d in enumerate(devices)}
    markers = {d: _MARKERS[i % len(_MARKERS)] for i, d in enumerate(devices)}

    n = len(models)
    grid_w = n * _PANEL_W + (n - 1) * _PANEL_GAP
    width = max(_LEFT + grid_w + _RIGHT, _MIN_WIDTH)
    left = _LEFT + (width - _LEFT - grid_w - _RIGHT) / 2.0
    note_lines = textwrap.wrap(note.strip(), max(40, int((width - 0.6) / (9.0 * 0.55 / 72.0))))
    note_h = (len(note_lines) * _NOTE_LINE + 0.15) if note_lines else 0.0
    bottom = _XLABEL + note_h
    sub_lines = textwrap.wrap(
        "training samples per second at each batch size (higher is faster, both axes log); "
        "each line ends with its time per step",
        max(40, int((width - 0.6) / (9.0 * 0.55 / 72.0))),
    )
    labels = [truncate(d, _DEVICE_LIMIT) for d in devices]
    label_in = max(len(label) for label in labels) * 8.5 * 0.55 / 72.0 + 0.75
    ncol = max(1, min(len(labels), 4, int((width - 0.6) / label_in)))
    legend_rows = math.ceil(len(labels) / ncol)
    legend_top = 0.5 + 0.17 * len(sub_lines) + 0.08
    header = legend_top + 0.19 * legend_rows + _HEADER
    height = header + _PLOT_H + bottom

    with figure(width, height) as fig:
        fig.text(0.3 / width, 1 - 0.3 / height, title, fontsize=13, fontweight="bold", va="center")
        fig.text(
            0.3 / width,
            1 - 0.5 / height,
            "\n".join(sub_lines),
            fontsize=9,
            color=MUTED,
            va="top",
            linespacing=1.3,
        )
        handles = [
            Line2D(
                [],
                [],
                color=colours[d],
                marker=markers[d],
                markersize=5,
                linewidth=1.6,
                label=label,
            )
            for d, label in zip(devices, labels, strict=True)
        ]
        fig.legend(
            handles=handles,
            loc="upper left",
            bbox_to_anchor=(0.3 / width, 1 - legend_top / height),
            ncol=ncol,
            fontsize=8.5,
            handlelength=2.2,
            columnspacing=1.8,
            borderaxespad=0.0,
            borderpad=0.0,
        )
        for k, model in enumerate(models):
            ax = fig.add_axes(
                (
                    (left + k * (_PANEL_W + _PANEL_GAP)) / width,
                    bottom / height,
                    _PANEL_W / width,
                    _PLOT_H / height,
                )
            )
            _draw_panel(
                ax,
                model,
                [p for p in points if p.model == model],
                devices,
                colours,
                markers,
                _PLOT_H * 72.0,
            )
            if k == 0:
                ax.set_ylabel("samples per second")
        if note_lines:
            fig.text(
                0.3 / width,
                (note_h - 0.05) / height,
                "\n".join(note_lines),
                fontsize=9,
                color=INK,
                style="italic",
                va="top",
                ha="left",
                linespacing=1.35,
            )
        return save(fig, path, dpi)
