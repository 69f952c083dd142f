"""Claim: cross-entropy is the loss for classification (mean squared error is for
regression).

The Figure 1 MLP on the digits, trained the same way with ``--loss ce`` and ``--loss mse``
(MSE between the softmax outputs and one-hot targets): validation accuracy after every epoch
(speed of convergence) and test accuracy at the end. Then a binary task ("is it a 3?") with
one sigmoid output and binary cross-entropy against two softmax outputs and cross-entropy.

Comparisons (positive = for the claim): CE vs MSE test accuracy; CE vs MSE validation
accuracy after the first epoch (faster convergence). BCE and two-class CE are the same model
family on the same task, so the article implies no winner; that pair is reported in the table
and notes but kept out of the verdict.
"""

from __future__ import annotations

import numpy as np

from threefigures.config import ModelConfig, TrainConfig
from threefigures.data import make_binary
from threefigures.experiments.core import Context, Outcome, mean_std, register, subset
from threefigures.experiments.verdict import compare, decide

POSITIVE = 3


@register("losses", "MSE vs cross-entropy for classification; BCE on a binary task")
def losses(ctx: Context) -> Outcome:
    from threefigures.figures.claims import Series, draw_line_panels

    name = ctx.data or "digits"
    data = ctx.dataset(name)
    epochs = 2 if ctx.quick else 8
    if ctx.quick:
        data = subset(data, 600, 0)
    binary = make_binary(data, POSITIVE)
    curves: dict[str, list[list[float]]] = {}
    test: dict[str, list[float]] = {}
    for seed in ctx.seeds:
        for label, task, loss in (
            ("cross-entropy", data, "ce"),
            ("MSE on softmax", data, "mse"),
            (f"BCE, one sigmoid output (is it {POSITIVE}?)", binary, "bce"),
            (f"CE, two softmax outputs (is it {POSITIVE}?)", binary, "ce"),
        ):
            cfg = TrainConfig(epochs=epochs, seed=seed, loss=loss)
            _model, result = ctx.train(
                task,
                ModelConfig(),
                cfg,
                label=label,
                binary=POSITIVE if task is binary else None,
            )
            assert result.test is not None
            curves.setdefault(label, []).append(
                [float(a) for a in result.history.val_accuracy if a is not None]
            )
            test.setdefault(label, []).append(result.test.accuracy)
    labels = list(curves)
    ce, mse, bce, ce2 = labels
    first = {k: [c[0] for c in v] for k, v in curves.items()}
    comparisons = [
        compare("cross-entropy vs MSE: test accuracy", test[ce], test[mse]),
        compare("cross-entropy vs MSE: validation accuracy after epoch 1", first[ce], first[mse]),
    ]
    binary_pair = compare("BCE vs two-class CE: test accuracy", test[bce], test[ce2])
    verdict = decide(comparisons)
    epochs_axis = list(range(1, epochs + 1))
    panels = [
        (
            f"{data.name}: 10 classes",
            [
                Series(k, epochs_axis, np.mean(curves[k], axis=0), _sd(curves[k], ctx))
                for k in (ce, mse)
            ],
        ),
        (
            f"binary: is it {POSITIVE}?",
            [
                Series(k, epochs_axis, np.mean(curves[k], axis=0), _sd(curves[k], ctx))
                for k in (bce, ce2)
            ],
        ),
    ]
    figure = draw_line_panels(
        panels,
        ctx.out_dir / "losses.png",
        xlabel="epoch",
        ylabel="validation accuracy",
        title="Cross-entropy vs mean squared error",
        subtitle=f"Figure 1 MLP, Adam 3e-3, batch 32 · mean over {len(ctx.seeds)} seed(s)",
        percent=True,
    )
    header = ("Loss", "val acc after epoch 1", "test accuracy")
    rows = [(k, mean_std(first[k]), mean_std(test[k])) for k in labels]
    notes = [
        f"Binary task (not in the verdict): BCE {mean_std(test[bce])}% vs two-class CE "
        f"{mean_std(test[ce2])}% (effect {100 * binary_pair.effect:+.2f} points, "
        f"{binary_pair.outcome}).",
        "MSE here is the squared error between the softmax probabilities and one-hot targets.",
    ]
    return Outcome(
        claim="Cross-entropy is the loss for classification; mean squared error is for regression.",
        question="On a classification task, does cross-entropy train faster and end more "
        "accurate than MSE?",
        header=header,
        rows=rows,
        figure=figure,
        verdict=verdict,
        comparisons=comparisons,
        notes=notes,
        numbers={"test": test, "val_curves": curves, "binary": binary_pair.to_dict()},
    )


def _sd(runs: list[list[float]], ctx: Context) -> list[float] | None:
    return list(np.std(runs, axis=0)) if len(ctx.seeds) > 1 else None
