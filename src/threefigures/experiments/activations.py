"""Claim: sigmoid's gradients vanish in deep networks; ReLU-family activations train deep
networks better.

A deep MLP — 6 hidden layers of 128 units — on the digits with sigmoid, tanh, ReLU and
GELU, everything else equal (PyTorch's default initialisation, Adam 3e-3 with cosine decay,
batch 32, the same seeds). Measured per seed:

- the training loss per epoch and the test accuracy at the end;
- the gradient norm ‖∂loss/∂W‖ of every ``nn.Linear`` layer's weights (6 hidden + the
  output layer), on one fixed batch of training images (the same for every activation and
  seed), at initialisation (the model ``Context.train`` is about to train, before its first
  step) and again after training. A vanishing gradient shows as the layers next to the
  input receiving orders of magnitude less gradient than the output layer. (The first layer
  has 784 × 128 weights and the output 128 × 10, which by itself favours a larger norm for
  the first layer; the comparison is between activations, which share that.)

Verdict (positive effect = for the claim):

- ReLU vs sigmoid and GELU vs sigmoid in test accuracy;
- ReLU vs sigmoid and GELU vs sigmoid in log10(first-layer ÷ output-layer gradient norm)
  at initialisation — a smaller ratio is a more vanished gradient — counting only a
  difference of at least a factor of 2 (0.3 in log10).

tanh is measured and drawn but is in neither family of the claim, so it is not compared.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from threefigures.config import TrainConfig
from threefigures.data import Dataset
from threefigures.experiments.core import Context, Outcome, conclude, mean_std, register
from threefigures.experiments.plots import mean_series, train_loss_panel
from threefigures.experiments.verdict import Comparison, compare
from threefigures.models import default_config
from threefigures.training import compute_loss, to_float_images

NAME = "activations"
ACTIVATIONS = ("sigmoid", "tanh", "relu", "gelu")
RELU_FAMILY = ("relu", "gelu")
DEPTH, WIDTH = 6, 128
FULL_EPOCHS, QUICK_EPOCHS = 10, 3
QUICK_SIZE = 800
MAX_TRAIN = 10_000
GRAD_BATCH = 512
#: log10 units: a factor of 2 in the first ÷ output gradient ratio is the least that counts.
RATIO_MIN_EFFECT = math.log10(2.0)


def linear_layers(model: nn.Module) -> list[nn.Linear]:
    """The model's ``nn.Linear`` layers in forward order (input side first)."""
    return [m for m in model.modules() if isinstance(m, nn.Linear)]


def layer_gradient_norms(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, loss: str = "ce"
) -> list[float]:
    """‖∂loss/∂W‖ (Frobenius norm of the weight gradient) of each ``nn.Linear`` layer, input
    side first, for one batch ``x`` (uint8 images or float pixels in [0, 1]) with labels
    ``y``. The model's weights, mode and gradients are left as they were found (gradients
    cleared)."""
    layers = linear_layers(model)
    if not layers:
        raise ValueError("the model has no Linear layers")
    device = next(model.parameters()).device
    inputs = to_float_images(x) if x.dtype == torch.uint8 else x.float()
    was_training = model.training
    model.train()
    model.zero_grad(set_to_none=True)
    try:
        with torch.enable_grad():
            compute_loss(model(inputs.to(device)), y.to(device), loss).backward()
        norms = []
        for layer in layers:
            grad = layer.weight.grad
            norms.append(float(grad.norm()) if grad is not None else 0.0)
    finally:
        model.zero_grad(set_to_none=True)
        model.train(was_training)
    return norms


def fixed_batch(data: Dataset, size: int = GRAD_BATCH) -> tuple[torch.Tensor, torch.Tensor]:
    """``size`` training images and labels picked by a permutation seeded with 0: the same
    batch for every activation and every seed."""
    gen = torch.Generator().manual_seed(0)
    n = len(data.train_y)
    index = torch.randperm(n, generator=gen)[: min(size, n)]
    return data.train_x[index], data.train_y[index]


def _log_ratio(norms: list[float]) -> float:
    """log10(first layer ÷ output layer); a dead layer (zero norm) counts as 1e-30."""
    return math.log10(max(norms[0], 1e-30) / max(norms[-1], 1e-30))


def _geo_mean(rows: list[list[float]]) -> list[float]:
    return list(np.exp(np.mean(np.log(np.maximum(np.asarray(rows, dtype=float), 1e-30)), axis=0)))


@register(
    NAME, "sigmoid vs tanh vs ReLU vs GELU in a 6-layer MLP: training and vanishing gradients"
)
def activations(ctx: Context) -> Outcome:
    from threefigures.figures.claims_more import PALETTE, Panel, Series, draw_panels

    data = ctx.image_data(QUICK_SIZE, MAX_TRAIN)
    epochs = QUICK_EPOCHS if ctx.quick else FULL_EPOCHS
    batch_x, batch_y = fixed_batch(data, GRAD_BATCH // 2 if ctx.quick else GRAD_BATCH)

    loss_curves: dict[str, list[list[float]]] = {a: [] for a in ACTIVATIONS}
    test: dict[str, list[float]] = {a: [] for a in ACTIVATIONS}
    grad_init: dict[str, list[list[float]]] = {a: [] for a in ACTIVATIONS}
    grad_end: dict[str, list[list[float]]] = {a: [] for a in ACTIVATIONS}
    for seed in ctx.seeds:
        for act in ACTIVATIONS:

            def at_init(model: nn.Module, act: str = act) -> None:
                grad_init[act].append(layer_gradient_norms(model, batch_x, batch_y))

            model, result = ctx.train(
                data,
                default_config("mlp", layers=(WIDTH,) * DEPTH, activation=act),
                TrainConfig(epochs=epochs, seed=seed),
                label=f"{act}, {DEPTH} hidden layers of {WIDTH}",
                init=at_init,
            )
            assert result.test is not None
            grad_end[act].append(layer_gradient_norms(model, batch_x, batch_y))
            loss_curves[act].append([float(v) for v in result.history.epoch_loss])
            test[act].append(result.test.accuracy)

    ratio_init = {a: [_log_ratio(g) for g in grad_init[a]] for a in ACTIVATIONS}
    ratio_end = {a: [_log_ratio(g) for g in grad_end[a]] for a in ACTIVATIONS}
    comparisons: list[Comparison] = []
    for act in RELU_FAMILY:
        comparisons.append(compare(f"{act} vs sigmoid: test accuracy", test[act], test["sigmoid"]))
    for act in RELU_FAMILY:
        comparisons.append(
            compare(
                f"{act} vs sigmoid: log10(first ÷ output layer gradient norm) at "
                "initialisation (higher = less vanishing)",
                ratio_init[act],
                ratio_init["sigmoid"],
                min_effect=RATIO_MIN_EFFECT,
            )
        )

    colour = {a: PALETTE[i] for i, a in enumerate(ACTIVATIONS)}
    epochs_axis = list(range(1, epochs + 1))
    n_layers = DEPTH + 1
    layer_axis = list(range(1, n_layers + 1))
    loss_series = [
        mean_series(a, loss_curves[a], epochs_axis, colour=colour[a]) for a in ACTIVATIONS
    ]
    grad_series = [
        Series(a, layer_axis, _geo_mean(grad_init[a]), colour=colour[a]) for a in ACTIVATIONS
    ] + [
        Series(a, layer_axis, _geo_mean(grad_end[a]), colour=colour[a], dashed=True)
        for a in ACTIVATIONS
    ]
    figure = draw_panels(
        [
            train_loss_panel(
                "training loss per epoch",
                loss_series,
                epochs,
                ylabel="training loss (cross-entropy, log)",
            ),
            Panel(
                "gradient norm per layer, one fixed batch",
                grad_series,
                xlabel="layer (input side → output)",
                ylabel="‖∂loss/∂W‖ (log)",
                logy=True,
                xticks=layer_axis,
                xticklabels=[str(i) for i in range(1, DEPTH + 1)] + ["out"],
            ),
        ],
        ctx.figure_path,
        title="Activations in a deep MLP: sigmoid's vanishing gradients",
        subtitle=f"{DEPTH} hidden layers × {WIDTH} units, {data.name}, {epochs} epochs, Adam · "
        "right: solid at initialisation, dashed after training · "
        f"{len(ctx.seeds)} seed(s) (gradients: geometric mean)",
    )

    header = (
        "Activation",
        "test accuracy",
        "final training loss",
        "‖g‖ layer 1 at init",
        "‖g‖ output at init",
        "layer 1 ÷ output at init",
        "layer 1 ÷ output after training",
    )
    rows = [
        (
            a,
            mean_std(test[a]),
            f"{np.mean([c[-1] for c in loss_curves[a]]):.4f}",
            f"{_geo_mean(grad_init[a])[0]:.2e}",
            f"{_geo_mean(grad_init[a])[-1]:.2e}",
            f"{10 ** np.mean(ratio_init[a]):.2e}",
            f"{10 ** np.mean(ratio_end[a]):.2e}",
        )
        for a in ACTIVATIONS
    ]
    ratio_text = ", ".join(f"{a} {10 ** np.mean(ratio_init[a]):.2g}" for a in ACTIVATIONS)
    notes = [
        f"First-layer ÷ output-layer gradient norm at initialisation: {ratio_text} "
        f"(geometric mean over seeds): with sigmoid the first layer gets "
        f"{10 ** -np.mean(ratio_init['sigmoid']):,.0f}× less gradient than the output layer.",
        f"Gradient norms are measured on one fixed batch of {len(batch_y)} training images "
        "(the same for every activation and seed), with the cross-entropy loss; the "
        "models use PyTorch's default initialisation for every activation.",
        "tanh is drawn for reference but not compared: the claim is about sigmoid and the "
        "ReLU family.",
    ]
    return conclude(
        claim="Sigmoid's gradients vanish in deep networks; ReLU-family activations train "
        "deep networks better.",
        question=f"In a {DEPTH}-hidden-layer MLP, does sigmoid starve the first layers of "
        "gradient, and do ReLU and GELU train to a better test accuracy?",
        table=(header, rows),
        figure=figure,
        comparisons=comparisons,
        notes=notes,
        numbers={
            "epochs": epochs,
            "test_accuracy": test,
            "epoch_loss": loss_curves,
            "gradient_norms_init": grad_init,
            "gradient_norms_trained": grad_end,
        },
    )
