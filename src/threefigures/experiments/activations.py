"""Claim: sigmoid's gradients vanish in deep networks; ReLU-family activations train deep
networks better.

A deep MLP (6 hidden layers of 128 units) on the digits with sigmoid, tanh, ReLU and GELU,
trained identically: the training loss per epoch, the test accuracy, and the gradient norm of
each layer's weights at initialisation on one fixed batch of 256 training images. A vanishing
gradient shows as the first layers receiving orders of magnitude less gradient than the last.

Comparisons (positive = for the claim): ReLU vs sigmoid and GELU vs sigmoid test accuracy;
ReLU vs sigmoid in log10(first-layer ÷ last-layer gradient norm) (less vanishing).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from threefigures.config import ModelConfig, TrainConfig
from threefigures.experiments.core import Context, Outcome, mean_std, register, subset
from threefigures.experiments.verdict import compare, decide
from threefigures.models import create_model
from threefigures.training import compute_loss

ACTIVATIONS = ("sigmoid", "tanh", "relu", "gelu")
DEPTH, WIDTH = 6, 128


def layer_gradient_norms(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> list[float]:
    """‖∂loss/∂W‖ for each Linear layer, input side first, on one batch (model unchanged)."""
    model.zero_grad(set_to_none=True)
    loss = compute_loss(model(x), y)
    loss.backward()
    norms = [
        float(m.weight.grad.norm())
        for m in model.modules()
        if isinstance(m, nn.Linear) and m.weight.grad is not None
    ]
    model.zero_grad(set_to_none=True)
    return norms


@register("activations", "sigmoid vs tanh vs ReLU vs GELU in a 6-layer MLP: vanishing gradients")
def activations(ctx: Context) -> Outcome:
    from threefigures.figures.claims import Series, draw_line_panels
    from threefigures.runner import model_config_for

    data = ctx.dataset(ctx.data or "digits")
    if ctx.quick:
        data = subset(data, 600, 0)
    epochs = 2 if ctx.quick else 8
    batch = data.train_x[:256].float().div(255.0).unsqueeze(1)  # (256, 1, 28, 28), fixed
    labels = data.train_y[:256]
    losses: dict[str, list[list[float]]] = {a: [] for a in ACTIVATIONS}
    grads: dict[str, list[list[float]]] = {a: [] for a in ACTIVATIONS}
    test: dict[str, list[float]] = {a: [] for a in ACTIVATIONS}
    for seed in ctx.seeds:
        for act in ACTIVATIONS:
            cfg = ModelConfig(layers=(WIDTH,) * DEPTH, activation=act)
            torch.manual_seed(seed)
            fresh = create_model(model_config_for(data, cfg))  # the same init ctx.train uses
            grads[act].append(layer_gradient_norms(fresh, batch, labels))
            _model, result = ctx.train(
                data, cfg, TrainConfig(epochs=epochs, seed=seed), label=f"{act} ×{DEPTH} layers"
            )
            assert result.test is not None
            losses[act].append(list(result.history.epoch_loss))
            test[act].append(result.test.accuracy)

    def spread(act: str) -> list[float]:  # log10(first / last) per seed
        return [math.log10(g[0] / g[-1]) for g in grads[act]]

    comparisons = [
        compare("ReLU vs sigmoid: test accuracy", test["relu"], test["sigmoid"]),
        compare("GELU vs sigmoid: test accuracy", test["gelu"], test["sigmoid"]),
        compare(
            "ReLU vs sigmoid: log10(first ÷ last layer gradient) at init",
            spread("relu"),
            spread("sigmoid"),
            min_effect=0.3,
        ),
    ]
    verdict = decide(comparisons)
    one = len(ctx.seeds) == 1
    panels = [
        (
            "training loss per epoch",
            [
                Series(
                    a,
                    list(range(1, epochs + 1)),
                    np.mean(losses[a], axis=0),
                    None if one else np.std(losses[a], axis=0),
                )
                for a in ACTIVATIONS
            ],
        ),
    ]
    grad_panel = [
        (
            "gradient norm per layer at initialisation",
            [
                Series(
                    a,
                    list(range(1, DEPTH + 2)),
                    np.exp(np.mean(np.log(grads[a]), axis=0)),
                    None,
                )
                for a in ACTIVATIONS
            ],
        )
    ]
    from threefigures.figures.claims import draw_line_panels as draw

    loss_fig = draw_line_panels(
        panels,
        ctx.out_dir / "activations-loss.png",
        xlabel="epoch",
        ylabel="training loss",
        title="Activations in a 6-layer MLP: training loss",
        logy=True,
    )
    figure = draw(
        grad_panel,
        ctx.out_dir / "activations.png",
        xlabel="layer (1 = next to the input, 7 = output)",
        ylabel="‖∂loss/∂W‖",
        title="Vanishing gradients: sigmoid vs tanh vs ReLU vs GELU",
        subtitle=f"{DEPTH}×{WIDTH} MLP on {data.name}, one fixed batch of 256 · geometric mean "
        f"over {len(ctx.seeds)} seed(s) · training curves: {loss_fig.name}",
        logy=True,
    )
    header = ("Activation", "test accuracy", "final training loss", "grad layer 1 ÷ layer 7")
    rows = [
        (
            a,
            mean_std(test[a]),
            f"{np.mean([h[-1] for h in losses[a]]):.4f}",
            f"{10 ** np.mean(spread(a)):.2e}",
        )
        for a in ACTIVATIONS
    ]
    return Outcome(
        claim="Sigmoid's gradients vanish in deep networks; ReLU-family activations train "
        "deep networks better.",
        question="In a 6-layer MLP, does sigmoid starve the first layers of gradient and "
        "train worse than ReLU and GELU?",
        header=header,
        rows=rows,
        figure=figure,
        verdict=verdict,
        comparisons=comparisons,
        notes=[f"Training-loss curves per activation: {loss_fig.name}."],
        numbers={"test": test, "gradient_norms": grads, "epoch_loss": losses},
    )
