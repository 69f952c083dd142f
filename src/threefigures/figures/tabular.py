"""Figures for a binary table task (breast-cancer): Figure 3 as ROC curves and a confusion
matrix beside classical baselines, the trade-off between missed positives and false alarms
as the threshold or BCE's pos_weight moves, and one case's per-feature attribution.

Every number arrives computed (numpy and plain Python); nothing here imports torch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ._style import BLUE, FAINT, GREEN, INK, MUTED, ORANGE, RED, PathLike, figure, save

_CURVE_COLOURS = (BLUE, ORANGE, GREEN, "#8e44ad", MUTED)


@dataclass(frozen=True)
class BinaryScores:
    """One classifier's result on the test cases: its ROC curve and its counts at the
    threshold (positive = the class that matters, e.g. malignant)."""

    name: str
    fpr: np.ndarray  # (K,) false-positive rates along the ROC curve
    tpr: np.ndarray  # (K,) true-positive rates
    auc: float
    tp: int
    fn: int
    fp: int
    tn: int

    @property
    def sensitivity(self) -> float:
        return self.tp / max(self.tp + self.fn, 1)

    @property
    def specificity(self) -> float:
        return self.tn / max(self.tn + self.fp, 1)

    @property
    def accuracy(self) -> float:
        return (self.tp + self.tn) / max(self.tp + self.fn + self.fp + self.tn, 1)


def draw_roc_confusion(
    scores: Sequence[BinaryScores],
    classes: Sequence[str],
    path: PathLike,
    *,
    threshold: float,
    title: str,
    note: str = "",
) -> Path:
    """Figure 3 for a binary table: every classifier's ROC curve with its operating point,
    the first classifier's confusion matrix at ``threshold``, and a table of accuracy,
    sensitivity, specificity and AUC for all of them."""
    if not scores:
        raise ValueError("draw_roc_confusion needs at least one classifier")
    negative, positive = classes[0], classes[1]
    with figure(10.0, 6.6) as fig:
        roc = fig.add_axes((0.08, 0.40, 0.36, 0.48))
        roc.plot([0, 1], [0, 1], color=FAINT, lw=0.8, ls="--")
        for i, s in enumerate(scores):
            colour = _CURVE_COLOURS[i % len(_CURVE_COLOURS)]
            roc.plot(
                s.fpr,
                s.tpr,
                color=colour,
                lw=1.8 if i == 0 else 1.0,
                label=f"{s.name} (AUC {s.auc:.3f})",
            )
            roc.plot(1 - s.specificity, s.sensitivity, "o", color=colour, ms=4)
        roc.set_xlim(-0.01, 1.0)
        roc.set_ylim(0.0, 1.01)
        roc.set_xlabel(f"false-positive rate (1 − specificity): {negative} called {positive}")
        roc.set_ylabel(f"sensitivity: {positive} found")
        roc.set_title("ROC curves (dots: the operating points)")
        roc.legend(loc="lower right")

        first = scores[0]
        cm = fig.add_axes((0.60, 0.42, 0.30, 0.42))
        matrix = np.array([[first.tn, first.fp], [first.fn, first.tp]])
        cm.imshow(matrix, cmap="Blues", vmin=0, vmax=max(int(matrix.max()), 1))
        words = [["true negative", "false alarm"], ["missed", "true positive"]]
        for r in range(2):
            for c in range(2):
                dark = matrix[r, c] > matrix.max() * 0.6
                cm.text(
                    c,
                    r,
                    f"{matrix[r, c]}\n{words[r][c]}",
                    ha="center",
                    va="center",
                    color="white" if dark else INK,
                    fontsize=9,
                )
        cm.set_xticks([0, 1], [negative, positive])
        cm.set_yticks([0, 1], [negative, positive])
        cm.set_xlabel("predicted")
        cm.set_ylabel("true")
        cm.set_title(f"{first.name} at threshold {threshold:g}")

        table = fig.add_axes((0.04, 0.08, 0.92, 0.22))
        table.set_axis_off()
        rows = [
            (
                s.name,
                f"{100 * s.accuracy:.1f}%",
                f"{100 * s.sensitivity:.1f}%",
                f"{100 * s.specificity:.1f}%",
                f"{s.auc:.3f}",
                str(s.fn),
                str(s.fp),
            )
            for s in scores
        ]
        header = ("", "accuracy", "sensitivity", "specificity", "AUC", "missed", "false alarms")
        drawn = table.table(cellText=rows, colLabels=header, loc="upper center", cellLoc="center")
        drawn.auto_set_font_size(False)
        drawn.set_fontsize(8.5)
        drawn.scale(1.0, 1.4)
        for (r, _c), cell in drawn.get_celld().items():
            cell.set_edgecolor(FAINT)
            if r == 0:
                cell.set_facecolor("#eef2f6")
        table.set_title(
            f"Test cases: the network at threshold {threshold:g}, the classical baselines at 0.5",
            fontsize=9,
        )
        fig.suptitle(title, fontsize=11, x=0.04, ha="left")
        if note:
            fig.text(0.04, 0.02, note, fontsize=8, color=MUTED, ha="left")
        return save(fig, path)


def draw_error_tradeoff(
    thresholds: np.ndarray,
    missed: np.ndarray,
    false_alarms: np.ndarray,
    path: PathLike,
    *,
    positive: str,
    chosen: float,
    weights: Mapping[float, tuple[int, int]] | None = None,
    title: str,
) -> Path:
    """Missed positives and false alarms on the test cases as the decision threshold moves
    (left) and, when ``weights`` (pos_weight → (missed, false alarms) at the threshold) is
    given, as BCE's pos_weight moves (right)."""
    panels = 2 if weights else 1
    with figure(5.2 * panels + 0.6, 3.9) as fig:
        ax = fig.add_subplot(1, panels, 1)
        ax.plot(thresholds, missed, color=RED, lw=1.6, label=f"missed {positive} (false negatives)")
        ax.plot(
            thresholds, false_alarms, color=BLUE, lw=1.6, label="false alarms (false positives)"
        )
        ax.axvline(chosen, color=MUTED, lw=0.8, ls="--")
        ax.set_xlabel(f"threshold on P({positive})")
        ax.set_ylabel("test cases")
        ax.set_title("As the threshold moves (one trained network)")
        ax.legend(loc="upper center")
        if weights:
            ws = sorted(weights)
            right = fig.add_subplot(1, panels, 2)
            xs = np.arange(len(ws))
            right.plot(
                xs, [weights[w][0] for w in ws], "o-", color=RED, lw=1.6, label=f"missed {positive}"
            )
            right.plot(
                xs, [weights[w][1] for w in ws], "s-", color=BLUE, lw=1.6, label="false alarms"
            )
            right.set_xticks(xs, [f"{w:g}" for w in ws])
            right.set_xlabel("BCE pos_weight W (one network trained per W, threshold 0.5)")
            right.set_ylabel("test cases")
            right.set_title("As the loss weighs a missed positive W times")
            right.legend(loc="center right")
        fig.suptitle(title, fontsize=11)
        fig.tight_layout()
        return save(fig, path)


def draw_feature_attribution(
    feature_names: Sequence[str],
    scores: np.ndarray,
    values: np.ndarray,
    path: PathLike,
    *,
    title: str,
    note: str = "",
    top: int = 12,
) -> Path:
    """One case's attribution per feature: the ``top`` largest by magnitude, each bar
    labelled with the case's measured value (positive bars push towards the explained
    class)."""
    scores = np.asarray(scores, dtype=np.float64)
    order = np.argsort(-np.abs(scores))[:top][::-1]
    height = 0.32 * len(order) + 1.9
    with figure(8.4, height) as fig:
        ax = fig.add_axes((0.36, 0.9 / height + 0.06, 0.60, 1 - 1.45 / height - 0.06))
        colours = [RED if scores[i] > 0 else BLUE for i in order]
        ax.barh(np.arange(len(order)), scores[order], color=colours)
        ax.set_yticks(
            np.arange(len(order)), [f"{feature_names[i]} = {values[i]:.4g}" for i in order]
        )
        ax.axvline(0, color=MUTED, lw=0.8)
        ax.set_xlabel("attribution (integrated gradients, from the average case)")
        fig.suptitle(title, fontsize=10, x=0.02, ha="left")
        if note:
            fig.text(0.02, 0.02, note, fontsize=7.5, color=MUTED, va="bottom")
        return save(fig, path)
