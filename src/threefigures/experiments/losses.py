"""Claim: cross-entropy is the loss for classification (mean squared error is for
regression).

The Figure 1 MLP (784 → 256 → 10) on the digits, trained the same way with cross-entropy
(``--loss ce``) and with mean squared error between the softmax outputs and one-hot targets
(``--loss mse``), under two optimizers: the project's default Adam (3e-3, cosine decay) and
SGD with momentum (0.05, momentum 0.9, cosine decay) — with plain gradient steps the loss's
own gradient scale is what moves the weights, while Adam rescales it away. Measured per
seed: validation accuracy after every epoch (the speed of convergence: the accuracy after
the first epoch, and the epochs needed to reach 90%), the training loss per epoch (each loss
in its own units), and the test accuracy at the end.

Then a binary task, "is it an 8?" (``load_data(name, binary=8)``: about one example in ten
is positive): one sigmoid output with binary cross-entropy (``--loss bce``) against two
softmax outputs with ordinary cross-entropy, Adam, same recipe.

Verdict (positive effect = for the claim):

- per optimizer, cross-entropy vs MSE in final test accuracy;
- per optimizer, cross-entropy vs MSE in validation accuracy after the first epoch;
- BCE vs two-class CE on the binary task, test accuracy. Both are cross-entropies, and a
  softmax over two logits is the sigmoid of their difference, so the claim predicts no
  winner: we count the pair in the direction of the article's advice ("binary cross-entropy
  for a binary task") and expect it to come out unclear, which by the verdict's rule
  neither supports nor contradicts the claim; a clear loss for BCE would count against it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from threefigures.config import TrainConfig
from threefigures.data import make_binary
from threefigures.experiments.core import Context, Outcome, conclude, mean_std, register
from threefigures.experiments.plots import (
    mean_series,
    train_loss_panel,
    val_accuracy_curve,
    val_accuracy_panel,
)
from threefigures.experiments.verdict import Comparison, compare
from threefigures.models import default_config

NAME = "losses"
#: The binary task: "is it class POSITIVE?" (an 8 on the digits, a bag on Fashion-MNIST).
POSITIVE = 8
#: Validation accuracy whose first epoch reached counts as "converged".
THRESHOLD = 0.90
FULL_EPOCHS, QUICK_EPOCHS = 10, 3
QUICK_SIZE = 800
#: Larger datasets (Fashion-MNIST's 60,000) are subsampled so full mode stays in minutes.
MAX_TRAIN = 10_000
OPTIMIZERS: dict[str, dict[str, Any]] = {
    "Adam": {"optimizer": "adam", "lr": 3e-3},
    "SGD": {"optimizer": "sgd", "lr": 0.05, "momentum": 0.9},
}
LOSS_NAMES = {"ce": "cross-entropy", "mse": "MSE on softmax", "bce": "BCE, one sigmoid output"}


def epochs_to_reach(curve: list[float], threshold: float = THRESHOLD) -> int | None:
    """The first epoch (1-based) whose validation accuracy is at least ``threshold``, or None
    if the run never got there."""
    for i, acc in enumerate(curve):
        if acc >= threshold:
            return i + 1
    return None


def _reach_text(values: list[int | None]) -> str:
    reached = [v for v in values if v is not None]
    if not reached:
        return "not reached"
    text = f"{np.mean(reached):.1f}"
    if len(reached) < len(values):
        text += f" ({len(reached)} of {len(values)} seeds)"
    return text


@register(NAME, "cross-entropy vs MSE for classification (convergence, accuracy); BCE vs CE")
def losses(ctx: Context) -> Outcome:
    from threefigures.figures.claims_more import PALETTE, Series, draw_panels

    data = ctx.image_data(QUICK_SIZE, MAX_TRAIN)
    positive = min(POSITIVE, data.num_classes - 1)
    binary = make_binary(data, positive)
    what = binary.classes[1]
    epochs = QUICK_EPOCHS if ctx.quick else FULL_EPOCHS

    # (task, loss, optimizer) → per-seed measurements
    keys = [("multi", loss, opt) for opt in OPTIMIZERS for loss in ("ce", "mse")]
    keys += [("binary", "bce", "Adam"), ("binary", "ce", "Adam")]
    val: dict[tuple[str, str, str], list[list[float]]] = {k: [] for k in keys}
    train_loss: dict[tuple[str, str, str], list[list[float]]] = {k: [] for k in keys}
    test: dict[tuple[str, str, str], list[float]] = {k: [] for k in keys}
    for seed in ctx.seeds:
        for key in keys:
            task, loss, opt = key
            cfg = TrainConfig(epochs=epochs, seed=seed, loss=loss, **OPTIMIZERS[opt])
            where = "" if task == "multi" else f", binary: is it {what}?"
            _model, result = ctx.train(
                data if task == "multi" else binary,
                default_config("mlp"),
                cfg,
                label=f"{LOSS_NAMES[loss]}, {opt}{where}",
                binary=positive if task == "binary" else None,
            )
            assert result.test is not None
            val[key].append(val_accuracy_curve(result.history))
            train_loss[key].append([float(v) for v in result.history.epoch_loss])
            test[key].append(result.test.accuracy)

    def first(key: tuple[str, str, str]) -> list[float]:
        return [curve[0] for curve in val[key]]

    comparisons: list[Comparison] = []
    for opt in OPTIMIZERS:
        ce, mse = ("multi", "ce", opt), ("multi", "mse", opt)
        comparisons.append(
            compare(f"cross-entropy vs MSE ({opt}): test accuracy", test[ce], test[mse])
        )
        comparisons.append(
            compare(
                f"cross-entropy vs MSE ({opt}): validation accuracy after epoch 1",
                first(ce),
                first(mse),
            )
        )
    bce, ce2 = ("binary", "bce", "Adam"), ("binary", "ce", "Adam")
    comparisons.append(
        compare(
            f"BCE (1 sigmoid output) vs CE (2 softmax outputs), is it {what}?: test accuracy "
            "(claim predicts no difference)",
            test[bce],
            test[ce2],
        )
    )

    # figure: convergence (validation accuracy), training loss, the binary task
    epochs_axis = list(range(1, epochs + 1))
    one = len(ctx.seeds) == 1
    colour = {"ce": PALETTE[0], "mse": PALETTE[1], "bce": PALETTE[2]}

    def line(key: tuple[str, str, str], curves: dict[Any, list[list[float]]]) -> Series:
        task, loss, opt = key
        if task == "multi":
            label, dashed, tint = f"{LOSS_NAMES[loss]}, {opt}", opt == "SGD", colour[loss]
        elif loss == "bce":
            label, dashed, tint = "BCE, one sigmoid output (binary)", False, colour[loss]
        else:  # dashed, so that it shows where it lies on top of BCE's line
            label, dashed, tint = "CE, two softmax outputs (binary)", True, PALETTE[3]
        return mean_series(label, curves[key], epochs_axis, dashed=dashed, colour=tint)

    multi = [k for k in keys if k[0] == "multi"]
    figure = draw_panels(
        [
            val_accuracy_panel(
                f"{data.num_classes} classes: validation accuracy",
                [line(k, val) for k in multi],
                epochs,
            ),
            train_loss_panel(
                f"{data.num_classes} classes: training loss (own units)",
                [line(k, train_loss) for k in multi],
                epochs,
            ),
            val_accuracy_panel(
                f"binary (is it {what}?): validation accuracy",
                [line(bce, val), line(ce2, val)],
                epochs,
            ),
        ],
        ctx.figure_path,
        title="Cross-entropy vs mean squared error for classification",
        subtitle=f"MLP 784-256, {data.name}, {epochs} epochs · solid: Adam 3e-3 · dashed: SGD "
        f"0.05 + momentum · mean over {len(ctx.seeds)} seed(s)" + ("" if one else ", band ±1 sd"),
    )

    reach = {k: [epochs_to_reach(c) for c in val[k]] for k in keys}
    header = (
        "Task",
        "Loss",
        "Optimizer",
        "val acc after epoch 1",
        f"epochs to {THRESHOLD:.0%} val acc",
        "test accuracy",
        "final training loss",
    )
    rows = [
        (
            f"{data.num_classes} classes" if k[0] == "multi" else f"is it {what}?",
            LOSS_NAMES[k[1]] if k != ce2 else "CE, two softmax outputs",
            k[2],
            mean_std(first(k)),
            _reach_text(reach[k]),
            mean_std(test[k]),
            f"{np.mean([c[-1] for c in train_loss[k]]):.4f}",
        )
        for k in keys
    ]
    base_rate = float((binary.test_y == 1).float().mean())
    notes = [
        "MSE is the squared error between the softmax probabilities and one-hot targets; "
        "training losses are in each loss's own units, so compare their shapes, not levels.",
        f"Binary task: {100 * base_rate:.1f}% of the test images are positive, so always "
        f"answering 'not {what}' scores {100 * (1 - base_rate):.1f}%. BCE and two-class CE "
        "are the same model family; the comparison is expected to be unclear.",
        f"Convergence: epochs to {THRESHOLD:.0%} validation accuracy is the first epoch that "
        "reached it (mean over the seeds that did).",
    ]
    if not ctx.quick and len(data.train_y) == MAX_TRAIN:
        notes.append(f"{ctx.data or 'digits'} was subsampled to {MAX_TRAIN:,} training examples.")
    numbers = {
        "epochs": epochs,
        "threshold": THRESHOLD,
        "positive_class": positive,
        "runs": {
            " / ".join(k): {
                "test_accuracy": test[k],
                "val_accuracy": val[k],
                "train_loss": train_loss[k],
                "epochs_to_threshold": reach[k],
            }
            for k in keys
        },
    }
    return conclude(
        claim="Cross-entropy is the loss for classification; mean squared error is for regression.",
        question="On the same classification task, does cross-entropy converge faster and end "
        "more accurate than MSE? On a binary task, is one sigmoid output with BCE as good as "
        "two softmax outputs with CE?",
        table=(header, rows),
        figure=figure,
        comparisons=comparisons,
        notes=notes,
        numbers=numbers,
    )
