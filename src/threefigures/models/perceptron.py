"""Rosenblatt's perceptron: one layer of threshold units, trained by his error-correction rule.

It is here as the starting point of the story the other models continue: what a single layer
of neurons can learn, how it learns without gradients, and where it stops.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch
from torch import nn

from threefigures.config import ModelConfig
from threefigures.models.base import Network
from threefigures.models.layers import Normalize
from threefigures.models.registry import register_model

HISTORY = """\
1943  McCulloch and Pitts describe the artificial neuron: a weighted sum of binary inputs
      compared with a threshold, enough to build any logic circuit by hand.
1958  Rosenblatt's perceptron learns those weights from examples: when a unit answers
      wrongly, add the input to its weights (or subtract it). For linearly separable
      classes the rule provably finds a separating line in finitely many steps.
1969  Minsky and Papert's "Perceptrons" proves what one layer cannot do: any problem that
      is not linearly separable, XOR being the smallest (no line puts (0,0), (1,1) on one
      side and (0,1), (1,0) on the other). Interest and funding fade.
1986  Rumelhart, Hinton and Williams popularise backpropagation: with hidden layers and
      smooth activations, gradients train multi-layer networks, which solve XOR and more.
"""


class Perceptron(Network):
    """Rosenblatt's single-layer perceptron: ``num_classes`` one-vs-rest threshold units.

    Where it sits in history: the McCulloch–Pitts neuron (1943) is a threshold on a weighted
    sum with hand-set weights; Rosenblatt's perceptron (1958) learns the weights with an
    error-correction rule; Minsky & Papert (1969) showed a single layer cannot represent XOR;
    backpropagation, popularised in 1986, trains the hidden layers that can.

    What it cannot learn: anything that is not linearly separable. Each unit splits the
    input space with one hyperplane, so XOR (and, on images, anything needing a combination
    of features) is out of reach; on digits it still does well, since most pairs of digit
    classes are nearly linearly separable in pixel space.

    ``forward`` returns the units' scores ``Wx + b`` (B, classes), so evaluation by argmax
    works as for any model. Training does not use backpropagation: the parameters have
    ``requires_grad=False`` and the loop must call :meth:`perceptron_update` instead of an
    optimizer (``learning_rule == "perceptron"`` tells it so). The weights start at zero, as
    in the original rule; its behaviour does not depend on a random initialisation.
    """

    learning_rule: ClassVar[str | None] = "perceptron"
    history_note: ClassVar[str] = HISTORY
    batch_invariant: ClassVar[bool] = True

    def __init__(self, config: ModelConfig) -> None:
        super().__init__(config)
        self.in_features = math.prod(config.input_shape)
        self.normalize = Normalize(config.input_mean, config.input_std)
        self.out = nn.Linear(self.in_features, config.num_classes)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)
        self.out.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.reshape(x.shape[0], self.in_features)  # (B, C*H*W)
        return self.out(self.normalize(x))  # (B, classes)

    @torch.no_grad()
    def perceptron_update(self, x: torch.Tensor, y: torch.Tensor, lr: float) -> float:
        """One step of the perceptron rule on a batch; returns the fraction of wrong decisions.

        For unit k the target is t = +1 if y == k else −1 and its output o = +1 if its score
        is ≥ 0 else −1. (t − o) / 2 is +1 (should have fired), −1 (should not have) or 0
        (right: no change), so W_k += lr · mean over the batch of (t − o)/2 · x, and b_k
        likewise with x = 1. The returned "loss" is the share of the B × classes unit
        decisions that were wrong before the update.
        """
        z = self.normalize(x.reshape(x.shape[0], self.in_features))  # (B, F)
        scores = self.out(z)  # (B, K)
        classes = torch.arange(self.config.num_classes, device=scores.device)
        y = y.to(scores.device).reshape(-1, 1)  # (B, 1)
        target = torch.where(y == classes, 1.0, -1.0).to(z.dtype)  # (B, K)
        output = torch.where(scores >= 0, 1.0, -1.0).to(z.dtype)  # (B, K)
        error = (target - output) / 2  # (B, K) in {−1, 0, +1}
        batch = z.shape[0]
        self.out.weight.add_(error.T @ z, alpha=lr / batch)  # (K, F)
        self.out.bias.add_(error.sum(dim=0), alpha=lr / batch)  # (K,)
        return float((error != 0).float().mean())

    def describe(self) -> list[dict[str, Any]]:
        """Input and output layer, in the format of ``CNN.describe``."""
        params = sum(p.numel() for p in self.parameters())
        return [
            {"name": "input", "kind": "input", "out_shape": (self.in_features,), "params": 0},
            {
                "name": "output",
                "kind": "threshold",
                "out_shape": (self.config.num_classes,),
                "params": params,
            },
        ]

    def pixel_units(self) -> nn.Linear | None:
        return self.out

    def activation_taps(self) -> list[tuple[str, nn.Module]]:
        return [("output", self.out)]


@register_model("perceptron", "Rosenblatt's 1958 perceptron: one layer, its own learning rule")
def perceptron(config: ModelConfig) -> nn.Module:
    return Perceptron(config)
