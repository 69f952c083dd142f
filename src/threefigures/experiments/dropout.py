"""Claim: dropout — switching off a random half of the hidden units at every training step —
is a regulariser: it reduces overfitting.

Small training sets (300 and 1,000 digits) make both networks overfit: the Figure 1 style
MLP 784 → 512 → 512 → 10, and the CNN's dense head (128 units). Each is trained with and
without dropout 0.5 after every hidden dense layer, on the same seeded stratified subsets,
for long enough that the training loss reaches nearly zero (50 epochs on 300 examples, 20
on 1,000; Adam 3e-3, cosine decay — the defaults otherwise). A further 20% of labelled
examples is held out (so the training set is exactly 300 or 1,000) for the validation loss
curve of every epoch.

Measured per seed:

- the test accuracy on the 1,000 held-out test digits;
- the *generalisation gap* at the end: test loss − training loss, both computed after
  training in evaluation mode (dropout off) on the training examples and on the test set.
  The training loss that ``fit`` records per epoch is the loss of the batches *with dropout
  active*, which is inflated by dropout itself; comparing it with a validation loss would
  flatter dropout, so the gap is re-measured with dropout off.

The figure draws per model and size the per-epoch training loss (as trained, dashed) and
validation loss (solid), with and without dropout, on a log scale.

Verdict: at each size, for each model, two comparisons — test accuracy with vs without
dropout (higher is better), and the final generalisation gap with vs without dropout (lower
is better, counted only beyond 0.02 nats). The claim holds when at least one comparison
favours dropout beyond the noise over seeds and none favours training without it; a gap
that shrinks while test accuracy falls makes it mixed; no clear gain anywhere, "does not
hold here".
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from threefigures.config import ModelConfig, TrainConfig
from threefigures.data import validation_split
from threefigures.errors import ConfigError
from threefigures.experiments.core import Context, Outcome, conclude, mean_std, register, subset
from threefigures.experiments.verdict import Comparison, compare
from threefigures.models import default_config

NAME = "dropout"
RATE = 0.5
#: Held out of every subset for the per-epoch validation curve (the training part stays n).
VAL_FRACTION = 0.2
FULL_SIZES = (300, 1000)
QUICK_SIZES = (150,)
#: Epochs per training-set size: long enough for the training loss to approach zero.
FULL_EPOCHS = {300: 50, 1000: 20}
QUICK_EPOCHS = 4
MODELS: dict[str, ModelConfig] = {
    "MLP 512-512": default_config("mlp", layers=(512, 512)),
    "CNN (dense 128)": default_config("cnn"),
}
#: The smallest difference in loss (nats) that counts as a change of the gap.
GAP_MIN_EFFECT = 0.02


def _pool_size(n: int) -> int:
    """Labelled examples to draw so that exactly ``n`` remain for training."""
    return round(n / (1.0 - VAL_FRACTION))


def _label(rate: float) -> str:
    return f"dropout {rate:g}" if rate > 0 else "no dropout"


@register(NAME, "dropout vs none on small training sets: test accuracy and overfitting gap")
def dropout(ctx: Context) -> Outcome:
    from threefigures.figures.claims import Series, draw_line_panels
    from threefigures.training import evaluate

    name = ctx.data or "digits"
    data = ctx.images(name)
    wanted = QUICK_SIZES if ctx.quick else FULL_SIZES
    sizes = [n for n in wanted if _pool_size(n) <= len(data.train_y)]
    if not sizes:
        raise ConfigError(f"{name} has too few training examples for the dropout experiment")
    rates = (0.0, RATE)

    # [model][n][rate] → per-seed lists
    acc: dict[str, dict[int, dict[float, list[float]]]] = {}
    gap: dict[str, dict[int, dict[float, list[float]]]] = {}
    train_acc: dict[str, dict[int, dict[float, list[float]]]] = {}
    curves: dict[str, dict[int, dict[float, dict[str, list[list[float]]]]]] = {}
    for model_name in MODELS:
        acc[model_name] = {n: {r: [] for r in rates} for n in sizes}
        gap[model_name] = {n: {r: [] for r in rates} for n in sizes}
        train_acc[model_name] = {n: {r: [] for r in rates} for n in sizes}
        curves[model_name] = {n: {r: {"train": [], "val": []} for r in rates} for n in sizes}

    for n in sizes:
        epochs = QUICK_EPOCHS if ctx.quick else FULL_EPOCHS.get(n, 30)
        ctx.log(f" {n} training examples, {epochs} epochs")
        for seed in ctx.seeds:
            part = subset(data, _pool_size(n), seed)
            # the examples fit trains on (its validation split is seeded by split_seed=0)
            train_idx, _val_idx = validation_split(part.train_y, VAL_FRACTION, 0)
            train_x, train_y = part.train_x[train_idx], part.train_y[train_idx]
            for model_name, base in MODELS.items():
                for rate in rates:
                    cfg = dataclasses.replace(base, dropout=rate)
                    model, result = ctx.train(
                        part,
                        cfg,
                        TrainConfig(epochs=epochs, seed=seed),
                        label=f"{model_name}, {_label(rate)}, n={n}",
                        val_fraction=VAL_FRACTION,
                    )
                    assert result.test is not None
                    on_train = evaluate(model, train_x, train_y, num_classes=data.num_classes)
                    acc[model_name][n][rate].append(result.test.accuracy)
                    gap[model_name][n][rate].append(result.test.loss - on_train.loss)
                    train_acc[model_name][n][rate].append(on_train.accuracy)
                    h = result.history
                    curves[model_name][n][rate]["train"].append(list(h.epoch_loss))
                    curves[model_name][n][rate]["val"].append(
                        [float("nan") if v is None else float(v) for v in h.val_loss]
                    )

    comparisons: list[Comparison] = []
    for model_name in MODELS:
        for n in sizes:
            comparisons.append(
                compare(
                    f"{model_name}: test accuracy with vs without dropout at {n} examples",
                    acc[model_name][n][RATE],
                    acc[model_name][n][0.0],
                )
            )
            comparisons.append(
                compare(
                    f"{model_name}: generalisation gap (test − train loss) with vs without "
                    f"dropout at {n} examples",
                    gap[model_name][n][RATE],
                    gap[model_name][n][0.0],
                    higher_is_better=False,
                    min_effect=GAP_MIN_EFFECT,
                )
            )

    header = (
        "Model",
        "n",
        "dropout",
        "test accuracy %",
        "train accuracy %",
        "train − test accuracy (points)",
        "test − train loss",
    )
    rows: list[tuple[Any, ...]] = []
    for model_name in MODELS:
        for n in sizes:
            for rate in rates:
                a, t, g = (
                    acc[model_name][n][rate],
                    train_acc[model_name][n][rate],
                    gap[model_name][n][rate],
                )
                rows.append(
                    (
                        model_name,
                        n,
                        f"{rate:g}",
                        mean_std(a),
                        mean_std(t),
                        f"{100 * (np.mean(t) - np.mean(a)):.1f}",
                        _loss_text(g),
                    )
                )

    colours = {0.0: "#c62828", RATE: "#2f6fb3"}
    panels = []
    for model_name in MODELS:
        for n in sizes:
            series = []
            for rate in rates:
                for part_name, dashed in (("train", True), ("val", False)):
                    runs = np.asarray(curves[model_name][n][rate][part_name], dtype=float)
                    mean = np.nanmean(runs, axis=0)
                    what = "train" if dashed else "validation"
                    series.append(
                        Series(
                            f"{_label(rate)} · {what}",
                            list(range(1, len(mean) + 1)),
                            [max(float(v), 1e-6) for v in mean],
                            dashed=dashed,
                            colour=colours[rate],
                        )
                    )
            panels.append((f"{model_name}, {n} examples", series))
    figure = draw_line_panels(
        panels,
        ctx.figure_path,
        xlabel="epoch",
        ylabel="cross-entropy loss (log scale)",
        title="Does dropout reduce overfitting?",
        subtitle=f"{name}: dashed = training loss of the batches (dropout active), solid = "
        f"validation loss · mean over {len(ctx.seeds)} seed(s)",
        logy=True,
    )

    notes = []
    for model_name in MODELS:
        for n in sizes:
            notes.append(
                f"{model_name} at {n} examples: test accuracy {mean_std(acc[model_name][n][0.0])}% "
                f"without dropout, {mean_std(acc[model_name][n][RATE])}% with; test − train loss "
                f"{_loss_text(gap[model_name][n][0.0])} without, "
                f"{_loss_text(gap[model_name][n][RATE])} with."
            )
    notes.append(
        f"The gap is measured after training with dropout off on both sets; {VAL_FRACTION:.0%} "
        "more labelled examples were held out for the per-epoch validation curve."
    )
    return conclude(
        claim="Dropout is a regulariser: switching off random units during training reduces "
        "overfitting.",
        question="On small training sets, does dropout shrink the gap between training and "
        "held-out loss, and raise test accuracy?",
        table=(header, rows),
        figure=figure,
        comparisons=comparisons,
        notes=notes,
        numbers={
            "dataset": name,
            "rate": RATE,
            "test_accuracy": _nested(acc),
            "train_accuracy": _nested(train_acc),
            "test_minus_train_loss": _nested(gap),
            "curves": {
                m: {
                    str(n): {
                        _label(r): {
                            k: np.nanmean(np.asarray(v, dtype=float), axis=0).tolist()
                            for k, v in curves[m][n][r].items()
                        }
                        for r in rates
                    }
                    for n in sizes
                }
                for m in MODELS
            },
        },
    )


def _loss_text(values: list[float]) -> str:
    if len(values) < 2:
        return f"{np.mean(values):.3f}"
    return f"{np.mean(values):.3f} ± {np.std(values, ddof=1):.3f}"


def _nested(
    table: dict[str, dict[int, dict[float, list[float]]]],
) -> dict[str, dict[str, dict[str, list[float]]]]:
    return {
        m: {str(n): {_label(r): list(v) for r, v in by_rate.items()} for n, by_rate in by_n.items()}
        for m, by_n in table.items()
    }
