"""The article's Figure 1 network, generalised: inputs → hidden layers → class scores."""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch
from torch import nn

from threefigures.config import ModelConfig
from threefigures.models.base import Network
from threefigures.models.layers import ACTIVATION_MODULES, Normalize
from threefigures.models.registry import register_model


class MLP(Network):
    """A multi-layer perceptron. ``MLP(ModelConfig())`` is 784 → 256 ReLU → 10.

    Input: (B, C, H, W) or (B, C*H*W) pixels in [0, 1]. Output: (B, classes) logits;
    the softmax of Figure 3 is applied by whoever reads probabilities.
    """

    batch_invariant: ClassVar[bool] = True

    def __init__(self, config: ModelConfig) -> None:
        super().__init__(config)
        self.in_features = math.prod(config.input_shape)
        self.normalize = Normalize(config.input_mean, config.input_std)
        blocks: list[nn.Module] = []
        width = self.in_features
        for units in config.layers:
            blocks.append(nn.Linear(width, units))
            blocks.append(ACTIVATION_MODULES[config.activation]())
            if config.dropout > 0:
                blocks.append(nn.Dropout(config.dropout))
            width = units
        self.hidden = nn.Sequential(*blocks)
        self.out = nn.Linear(width, config.num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.reshape(x.shape[0], self.in_features)  # (B, C*H*W)
        return self.out(self.hidden(self.normalize(x)))  # (B, classes)

    def layer_sizes(self) -> list[int]:
        return [self.in_features, *self.config.layers, self.config.num_classes]

    def linear_layers(self) -> list[nn.Linear]:
        return [m for m in self.modules() if isinstance(m, nn.Linear)]

    # --- the Network interface ---

    def describe(self) -> list[dict[str, Any]]:
        """Input, each dense layer and the output (Figure 1 draws them as neurons)."""
        blocks: list[dict[str, Any]] = [
            {"name": "input", "kind": "input", "out_shape": (self.in_features,), "params": 0}
        ]
        linears = self.linear_layers()
        for i, layer in enumerate(linears, start=1):
            last = i == len(linears)
            blocks.append(
                {
                    "name": "output" if last else f"hidden {i}",
                    "kind": "linear",
                    "out_shape": (layer.out_features,),
                    "params": sum(p.numel() for p in layer.parameters()),
                    "detail": "" if last else self.config.activation,
                }
            )
        return blocks

    def neuron_layers(self) -> list[nn.Linear]:
        return self.linear_layers()

    def pixel_units(self) -> nn.Linear | None:
        return self.linear_layers()[0]

    def activation_taps(self) -> list[tuple[str, nn.Module]]:
        """Each hidden layer after its activation, then the logits."""
        acts = [m for m in self.hidden if not isinstance(m, nn.Linear | nn.Dropout)]
        return [*((f"hidden {i}", m) for i, m in enumerate(acts, start=1)), ("output", self.out)]


@register_model("mlp", "multi-layer perceptron: --layers 256 or 512,128, any activation")
def mlp(config: ModelConfig) -> nn.Module:
    return MLP(config)
