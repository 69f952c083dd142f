"""Figure 2: the training loss falling (per batch and per epoch) and validation accuracy rising."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from matplotlib.artist import Artist
from matplotlib.ticker import FixedLocator, FuncFormatter, MaxNLocator

from ._layout import page_heading
from ._style import BLUE, GREEN, ORANGE, PathLike, figure, save

#: Batch curves longer than this are thinned (every k-th point, last kept) before drawing.
MAX_BATCH_POINTS = 5000

_WIDTH_IN = 9.0
_HEIGHT_IN = 5.4


@dataclass(frozen=True)
class TrainingHistory:
    """What a training run recorded, in the shape Figure 2 needs.

    Attributes:
        batch_epoch: x position of each recorded batch, in epochs (e.g. 0.01 … 3.0).
        batch_loss: Training loss of each recorded batch (same length as ``batch_epoch``).
        epoch: Epoch numbers, 1 … E.
        epoch_loss: Mean training loss of each epoch (same length as ``epoch``).
        val_accuracy: Validation accuracy in [0, 1] after each epoch, ``None`` where the epoch
            was not validated (same length as ``epoch``, or empty for no validation at all).
        val_loss: Validation loss after each epoch, ``None`` where not measured (same length as
            ``epoch``, or empty).
    """

    batch_epoch: Sequence[float]
    batch_loss: Sequence[float]
    epoch: Sequence[int]
    epoch_loss: Sequence[float]
    val_accuracy: Sequence[float | None]
    val_loss: Sequence[float | None] = ()


def _floats(values: Sequence[float]) -> npt.NDArray[np.float64]:
    return np.asarray(list(values), dtype=np.float64).reshape(-1)


def _optional(
    values: Sequence[float | None], epochs: npt.NDArray[np.float64], what: str
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Return (x, y) of the epochs that have a value, checking the length against ``epochs``."""
    if len(values) == 0:
        empty = np.zeros(0, dtype=np.float64)
        return empty, empty
    if len(values) != len(epochs):
        raise ValueError(f"{what} has {len(values)} values but there are {len(epochs)} epochs")
    keep = [i for i, v in enumerate(values) if v is not None]
    ys = np.asarray([values[i] for i in keep], dtype=np.float64)
    return epochs[keep], ys


def _thin(
    x: npt.NDArray[np.float64], y: npt.NDArray[np.float64]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    n = len(x)
    if n <= MAX_BATCH_POINTS:
        return x, y
    step = math.ceil(n / MAX_BATCH_POINTS)
    idx = np.arange(0, n, step)
    if idx[-1] != n - 1:
        idx = np.append(idx, n - 1)
    return x[idx], y[idx]


def _finite_max(*arrays: npt.NDArray[np.float64]) -> float | None:
    finite = [a[np.isfinite(a)] for a in arrays if a.size]
    finite = [a for a in finite if a.size]
    if not finite:
        return None
    return float(max(a.max() for a in finite))


def draw_training(
    history: TrainingHistory,
    path: PathLike,
    *,
    title: str = "Figure 2 — training",
    dpi: int = 150,
) -> Path:
    """Draw the loss curves and validation accuracy of a run and save them; return the path.

    The loss of every recorded batch is a faint thin line; the mean loss of each epoch is a bold
    line with markers placed at the *end* of that epoch (x = epoch number); validation loss, when
    given, is dashed. Validation accuracy is plotted as a percentage on a second y axis on the
    right, and its last value is written next to the final point. One legend covers both axes.

    Args:
        history: The recorded curves; see :class:`TrainingHistory`.
        path: Where to write the image; the format follows the suffix (PNG by default).
        title: Bold heading at the top of the figure.
        dpi: Resolution of the written image.

    Raises:
        ValueError: If paired sequences differ in length, nothing was recorded, or an accuracy
            lies outside [0, 1].
    """
    bx, by = _floats(history.batch_epoch), _floats(history.batch_loss)
    if len(bx) != len(by):
        raise ValueError(
            f"batch_epoch has {len(bx)} values but batch_loss has {len(by)}; they must pair up"
        )
    ex, ey = _floats(history.epoch), _floats(history.epoch_loss)
    if len(ex) != len(ey):
        raise ValueError(
            f"epoch has {len(ex)} values but epoch_loss has {len(ey)}; they must pair up"
        )
    if len(bx) == 0 and len(ex) == 0:
        raise ValueError("the training history is empty: no batch or epoch losses to draw")
    ax_acc, acc = _optional(history.val_accuracy, ex, "val_accuracy")
    vx, vy = _optional(history.val_loss, ex, "val_loss")
    if acc.size and (np.nanmin(acc) < 0.0 or np.nanmax(acc) > 1.0):
        raise ValueError(
            "val_accuracy must be fractions in [0, 1] (not percentages); "
            f"got values from {np.nanmin(acc):g} to {np.nanmax(acc):g}"
        )

    n_epochs = float(ex.max()) if ex.size else float(math.ceil(bx.max()))
    n_epochs = max(n_epochs, float(bx.max()) if bx.size else 0.0, 1.0)
    bx_draw, by_draw = _thin(bx, by)

    summary = [f"{len(ex)} epoch{'s' if len(ex) != 1 else ''}"]
    if len(bx):
        summary.append(f"{len(bx):,} batch losses recorded")
    if ey.size and math.isfinite(ey[-1]):
        summary.append(f"final epoch loss {ey[-1]:.4g}")

    with figure(_WIDTH_IN, _HEIGHT_IN) as fig:
        page_heading(
            fig,
            _WIDTH_IN,
            _HEIGHT_IN,
            title,
            " · ".join(summary),
            one_line=True,
        )

        ax = fig.add_axes((0.085, 0.11, 0.83, 0.66))
        handles: list[Artist] = []
        if bx_draw.size:
            (h,) = ax.plot(
                bx_draw, by_draw, color=BLUE, lw=0.7, alpha=0.3, label="training loss, each batch"
            )
            handles.append(h)
        if ex.size:
            (h,) = ax.plot(
                ex,
                ey,
                color=BLUE,
                lw=2.2,
                marker="o",
                ms=5,
                label="training loss, mean of epoch",
                zorder=3,
            )
            handles.append(h)
        if vx.size:
            (h,) = ax.plot(
                vx,
                vy,
                color=ORANGE,
                lw=1.8,
                ls="--",
                marker="s",
                ms=4.5,
                label="validation loss",
                zorder=3,
            )
            handles.append(h)

        pad = 0.02 * n_epochs
        ax.set_xlim(0.0, n_epochs + pad)
        if n_epochs >= 3:
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        else:  # one or two epochs: fractional ticks say where inside the epoch a batch lies
            ax.xaxis.set_major_locator(MaxNLocator(nbins=8, steps=[1, 2, 2.5, 5, 10]))
        top = _finite_max(by_draw, ey, vy)
        if top is not None and top > 0:
            ax.set_ylim(0.0, top * 1.06)
        ax.set_xlabel("epoch")
        ax.set_ylabel("loss (cross-entropy)")
        ax.grid(True, axis="y")

        if acc.size:
            ax2 = ax.twinx()
            ax2.spines["right"].set_visible(True)
            pct = acc * 100.0
            (h,) = ax2.plot(
                ax_acc,
                pct,
                color=GREEN,
                lw=1.6,
                marker="^",
                ms=6,
                label="validation accuracy (right axis)",
                zorder=4,
            )
            handles.append(h)
            lo = max(0.0, math.floor((float(np.nanmin(pct)) - 5.0) / 10.0) * 10.0)
            # Headroom above 100% for the label; ticks stop at 100%.
            ax2.set_ylim(lo, 100.0 + 0.1 * (100.0 - lo))
            ticks = MaxNLocator(nbins=6, steps=[1, 2, 5, 10]).tick_values(lo, 100.0)
            ax2.yaxis.set_major_locator(FixedLocator([t for t in ticks if lo <= t <= 100.0]))
            ax2.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}%"))
            ax2.set_ylabel("validation accuracy", color=GREEN)
            ax2.tick_params(axis="y", colors=GREEN)
            last_x, last_v = float(ax_acc[-1]), float(pct[-1])
            # A rising curve comes from below-left, so the label goes above-left; otherwise below.
            rising = len(pct) < 2 or last_v >= float(pct[-2])
            ax2.annotate(
                f"val {last_v:.1f}%",
                xy=(last_x, last_v),
                xytext=(-6, 7 if rising else -7),
                textcoords="offset points",
                ha="right",
                va="bottom" if rising else "top",
                fontsize=9,
                fontweight="bold",
                color=GREEN,
            )

        ax.legend(
            handles=handles,
            labels=[str(h.get_label()) for h in handles],
            loc="lower center",
            bbox_to_anchor=(0.5, 1.02),
            ncol=len(handles),
            handlelength=2.4,
            columnspacing=1.6,
        )
        return save(fig, path, dpi)
