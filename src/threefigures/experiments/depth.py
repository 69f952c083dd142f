"""Claim: depth helps — the "deep" in deep learning: more hidden layers learn better.

MLPs with 1, 2, 4 and 8 hidden layers of equal width, each width solved so the network has
(about) the parameter count of the Figure 1 network, 784 → 256 → 10: 203,530 parameters on
28×28 images with 10 classes (every network within 2% of it; the exact counts are in the
table). Depth is then the only thing that changes — not capacity. All are trained the same
way (Adam 3e-3 with cosine decay, batch 32, ReLU, PyTorch's default initialisation, the same
seeds and epochs) on the digits, or on ``--data`` (a large training set such as
Fashion-MNIST's is subsampled to 10,000 images so the experiment stays within minutes).

Measured per seed: test accuracy, the validation accuracy and training loss per epoch.

Verdict (positive effect = for the claim): each deeper network (2, 4, 8 layers) vs the
one-layer network, in test accuracy.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from threefigures.config import TrainConfig
from threefigures.experiments.core import Context, Outcome, conclude, mean_std, register
from threefigures.experiments.plots import (
    mean_series,
    train_loss_panel,
    val_accuracy_curve,
    val_accuracy_panel,
)
from threefigures.experiments.verdict import Comparison, compare
from threefigures.models import default_config

NAME = "depth"
DEPTHS = (1, 2, 4, 8)
BASE_WIDTH = 256  # the Figure 1 network: one hidden layer of 256
FULL_EPOCHS, QUICK_EPOCHS = 10, 3
QUICK_SIZE = 800
MAX_TRAIN = 10_000
#: How far from the target parameter count a network may be.
TOLERANCE = 0.02


def mlp_param_count(inputs: int, widths: tuple[int, ...], outputs: int) -> int:
    """Weights and biases of an MLP inputs → widths… → outputs (Linear layers only)."""
    sizes = (inputs, *widths, outputs)
    return sum(a * b + b for a, b in itertools.pairwise(sizes))


def equal_param_width(depth: int, target: int, inputs: int = 784, outputs: int = 10) -> int:
    """The width ``w`` of ``depth`` equal hidden layers whose parameter count is closest to
    ``target``. The count is (inputs + 1)·w + (depth − 1)·(w² + w) + (w + 1)·outputs, a
    quadratic in ``w`` (linear for one layer), solved and rounded to the nearer integer.
    Raises ValueError when no width comes within :data:`TOLERANCE` of the target."""
    if depth < 1:
        raise ValueError(f"depth must be at least 1, got {depth}")
    a = depth - 1
    b = inputs + 1 + (depth - 1) + outputs
    c = outputs - target
    exact = -c / b if a == 0 else (-b + math.sqrt(b * b - 4 * a * c)) / (2 * a)
    candidates = {max(1, math.floor(exact)), max(1, math.ceil(exact))}
    width = min(
        sorted(candidates),
        key=lambda w: abs(mlp_param_count(inputs, (w,) * depth, outputs) - target),
    )
    got = mlp_param_count(inputs, (width,) * depth, outputs)
    if abs(got - target) > TOLERANCE * target:
        raise ValueError(
            f"no width gives {depth} layers {target:,} parameters within {TOLERANCE:.0%} "
            f"(closest: {width} → {got:,})"
        )
    return width


@register(NAME, "1 vs 2 vs 4 vs 8 hidden layers at the same parameter count")
def depth(ctx: Context) -> Outcome:
    from threefigures.figures.claims_more import Panel, Series, draw_panels

    data = ctx.image_data(QUICK_SIZE, MAX_TRAIN)
    epochs = QUICK_EPOCHS if ctx.quick else FULL_EPOCHS
    inputs, outputs = math.prod(data.image_shape), data.num_classes
    target = mlp_param_count(inputs, (BASE_WIDTH,), outputs)
    widths = {d: (equal_param_width(d, target, inputs, outputs),) * d for d in DEPTHS}
    counts = {d: mlp_param_count(inputs, widths[d], outputs) for d in DEPTHS}

    test: dict[int, list[float]] = {d: [] for d in DEPTHS}
    val: dict[int, list[list[float]]] = {d: [] for d in DEPTHS}
    train_loss: dict[int, list[list[float]]] = {d: [] for d in DEPTHS}
    seconds: dict[int, list[float]] = {d: [] for d in DEPTHS}
    for seed in ctx.seeds:
        for d in DEPTHS:
            model, result = ctx.train(
                data,
                default_config("mlp", layers=widths[d]),
                TrainConfig(epochs=epochs, seed=seed),
                label=f"{d} hidden layer(s) of {widths[d][0]}",
            )
            assert result.test is not None
            actual = sum(p.numel() for p in model.parameters())
            if actual != counts[d]:  # the formula must describe the model that was trained
                raise RuntimeError(f"{d} layers: counted {counts[d]:,}, model has {actual:,}")
            test[d].append(result.test.accuracy)
            val[d].append(val_accuracy_curve(result.history))
            train_loss[d].append([float(v) for v in result.history.epoch_loss])
            seconds[d].append(result.train_seconds)

    comparisons: list[Comparison] = [
        compare(
            f"{d} hidden layers × {widths[d][0]} vs 1 × {widths[1][0]} at ~{target:,} "
            "parameters: test accuracy",
            test[d],
            test[1],
        )
        for d in DEPTHS
        if d > 1
    ]

    one = len(ctx.seeds) == 1
    epochs_axis = list(range(1, epochs + 1))

    def label(d: int) -> str:
        return f"{d} × {widths[d][0]}"

    def curve(d: int, runs: dict[int, list[list[float]]]) -> Series:
        return mean_series(label(d), runs[d], epochs_axis)

    by_depth = [
        Series(
            label(d),
            [d],
            [float(np.mean(test[d]))],
            None if one else [float(np.std(test[d]))],
        )
        for d in DEPTHS
    ]
    trend = Series(
        "test accuracy",
        list(DEPTHS),
        [float(np.mean(test[d])) for d in DEPTHS],
        None if one else [float(np.std(test[d])) for d in DEPTHS],
        colour="#7b8794",
        dashed=True,
    )
    figure = draw_panels(
        [
            Panel(
                "test accuracy by depth",
                [trend, *by_depth],
                xlabel="hidden layers (log scale)",
                ylabel="test accuracy",
                percent=True,
                logx=True,
                xticks=list(DEPTHS),
                xticklabels=[str(d) for d in DEPTHS],
            ),
            val_accuracy_panel(
                "validation accuracy per epoch", [curve(d, val) for d in DEPTHS], epochs
            ),
            train_loss_panel(
                "training loss per epoch", [curve(d, train_loss) for d in DEPTHS], epochs
            ),
        ],
        ctx.figure_path,
        title=f"Depth at equal parameter count (~{target:,} parameters)",
        subtitle=f"ReLU MLPs on {data.name}, {epochs} epochs, Adam · legend: layers × width · "
        f"mean over {len(ctx.seeds)} seed(s)" + ("" if one else ", ±1 sd"),
    )

    header = (
        "Hidden layers",
        "width",
        "parameters",
        "vs target",
        "test accuracy",
        "final training loss",
        "seconds per run",
    )
    rows = [
        (
            d,
            widths[d][0],
            f"{counts[d]:,}",
            f"{100 * (counts[d] - target) / target:+.2f}%",
            mean_std(test[d]),
            f"{np.mean([c[-1] for c in train_loss[d]]):.4f}",
            f"{np.mean(seconds[d]):.1f}",
        )
        for d in DEPTHS
    ]
    best = max(DEPTHS, key=lambda d: float(np.mean(test[d])))
    notes = [
        f"Target: the Figure 1 network's {target:,} parameters ({inputs} → {BASE_WIDTH} → "
        f"{outputs}); every network is within {TOLERANCE:.0%} of it.",
        f"Best: {best} hidden layer(s) of {widths[best][0]} ({mean_std(test[best])}%).",
        "Same recipe for every depth (no batch norm, no residual connections), so this tests "
        "depth as the article's plain MLP would have it.",
    ]
    if not ctx.quick and len(data.train_y) == MAX_TRAIN:
        notes.append(f"{ctx.data or 'digits'} was subsampled to {MAX_TRAIN:,} training examples.")
    return conclude(
        claim="Deep learning: more hidden layers help.",
        question=f"At the same number of parameters (~{target:,}), do 2, 4 or 8 hidden layers "
        "beat one?",
        table=(header, rows),
        figure=figure,
        comparisons=comparisons,
        notes=notes,
        numbers={
            "target_parameters": target,
            "widths": {str(d): widths[d][0] for d in DEPTHS},
            "parameters": {str(d): counts[d] for d in DEPTHS},
            "test_accuracy": {str(d): test[d] for d in DEPTHS},
            "val_accuracy": {str(d): val[d] for d in DEPTHS},
            "train_loss": {str(d): train_loss[d] for d in DEPTHS},
        },
    )
