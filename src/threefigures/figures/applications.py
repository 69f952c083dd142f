"""Figure 10: the article's three applications side by side, each with what this project
measured on its own run: a headline number, its baseline, and a small picture drawn from the
run (a frame with its steering, a ROC curve, a review with its token colours)."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ._style import BLUE, FAINT, INK, MUTED, ORANGE, RED, PathLike, figure, save


@dataclass(frozen=True)
class Column:
    """One application: its heading, the article's theme in three lines, what was measured
    (lines of text), and a picture: a PNG to show, or a ROC curve (fpr, tpr) to draw."""

    heading: str
    theme: Sequence[str]
    measured: Sequence[str] = ()
    picture: Path | None = None
    roc: tuple[np.ndarray, np.ndarray] | None = None
    roc_points: Sequence[tuple[str, float, float]] = field(default_factory=tuple)
    tokens: Sequence[tuple[str, float]] | None = None  # a text's WordPiece tokens and scores
    status: str = "measured"  # "measured" | "not built yet"
    why: str = ""


def draw_figure10(columns: Sequence[Column], path: PathLike, *, title: str, note: str = "") -> Path:
    """Three (or any number of) columns: heading, theme, measured lines, picture."""
    import matplotlib.image as mpimg

    n = len(columns)
    if n == 0:
        raise ValueError("draw_figure10 needs at least one column")
    width = 5.2 * n
    with figure(width, 7.0) as fig:
        fig.suptitle(title, fontsize=13, x=0.01, ha="left", y=0.985)
        for i, col in enumerate(columns):
            left = i / n + 0.012
            w = 1 / n - 0.024
            fig.text(left, 0.90, col.heading, fontsize=12, fontweight="bold", color=INK)
            theme = "\n".join(f"• {line}" for line in col.theme)
            fig.text(left, 0.88, theme, fontsize=9, color=MUTED, va="top")
            if col.status != "measured":
                fig.text(
                    left,
                    0.70,
                    f"{col.status}\n" + textwrap.fill(col.why, 52),
                    fontsize=10,
                    color=RED,
                    va="top",
                )
                continue
            measured = "\n".join(textwrap.fill(line, 58) for line in col.measured)
            fig.text(left, 0.76, measured, fontsize=9, color=INK, va="top")
            ax = fig.add_axes((left + 0.03, 0.12, w - 0.04, 0.42))
            if col.roc is not None:
                fpr, tpr = col.roc
                ax.plot([0, 1], [0, 1], color=FAINT, ls="--", lw=0.8)
                ax.plot(fpr, tpr, color=BLUE, lw=1.8, label="network, every threshold")
                for (name, x, y), colour in zip(
                    col.roc_points, (BLUE, ORANGE, MUTED), strict=False
                ):
                    ax.plot(x, y, "o", color=colour, ms=5, label=name)
                ax.set_xlabel("false alarms (1 − specificity)")
                ax.set_ylabel("cancers found (sensitivity)")
                ax.set_xlim(-0.01, 1)
                ax.set_ylim(0, 1.01)
                ax.legend(loc="lower right", fontsize=7.5)
            elif col.tokens:
                _draw_tokens(fig, ax, col.tokens)
            elif col.picture is not None and Path(col.picture).is_file():
                ax.imshow(mpimg.imread(str(col.picture)))
                ax.set_axis_off()
            else:
                ax.set_axis_off()
                ax.text(0.5, 0.5, "no picture", ha="center", color=MUTED)
        if note:
            fig.text(0.01, 0.012, note, fontsize=8, color=MUTED)
        return save(fig, path)


def _draw_tokens(fig: Any, ax: Any, tokens: Sequence[tuple[str, float]]) -> None:
    """A text as WordPiece tokens flowing over the axes, each on a colour for its score (red
    pushed towards the answer, blue away); "##" pieces join the piece before them."""
    from matplotlib import colormaps

    ax.set_axis_off()
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    shown = [(t, s) for t, s in tokens if t not in ("[CLS]", "[SEP]", "[PAD]")]
    scale = max((abs(s) for _t, s in shown), default=1.0) or 1.0
    cmap = colormaps["RdBu_r"]
    renderer = fig.canvas.get_renderer()
    to_axes = ax.transAxes.inverted()
    x, y, line = 0.0, 0.95, 0.075
    for token, score in shown:
        piece = token[2:] if token.startswith("##") else token
        if not token.startswith("##") and x > 0:
            x += 0.012  # a space between words
        text = ax.text(
            x,
            y,
            piece,
            fontsize=10,
            va="top",
            color="white" if abs(score) > 0.6 * scale else INK,
            bbox={
                "boxstyle": "square,pad=0.12",
                "facecolor": cmap(0.5 + 0.5 * score / scale),
                "edgecolor": "none",
            },
        )
        box = text.get_window_extent(renderer=renderer)
        (x0, _), (x1, _) = to_axes.transform([(box.x0, box.y0), (box.x1, box.y1)])
        if x1 > 1.0 and x > 0:  # wrap: move the whole piece to the next line
            y -= line
            text.set_position((0.0, y))
            x = x1 - x0
        else:
            x = x1
        if y < 0.05:
            text.set_text("…")
            break
    ax.text(
        0,
        0.0,
        "red: pushed towards the answer · blue: away (integrated gradients)",
        fontsize=7.5,
        color=MUTED,
    )
